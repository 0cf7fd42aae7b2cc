"""What the uplink needs from the rest of the daemon: small Protocols the app satisfies.

The uplink never touches a driver: CSMS requests become domain commands (``CommandSink``), live
state comes from snapshots (``StatusSource``, ``MeterSource``), transaction messages come from the
durable outbox (``TransactionOutbox``, implemented by ``storage.outbox``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from edge_controller.domain.commands import Command, CommandResult, TransactionLimit
from edge_controller.domain.display_messages import DisplayMessage
from edge_controller.domain.limit_schedule import Electrical
from edge_controller.domain.model import Limit
from edge_controller.domain.pricing.central import CentralCost
from edge_controller.domain.sessions.authorization import AuthEntry
from edge_controller.domain.sessions.events import MeterSampled, OutboxEvent
from edge_controller.domain.snapshot import ConnectorState, ConnectorView, GatewayFault
from edge_controller.domain.web_payment import PaymentHold
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.uplink.wakeup import OutboxWakeup

if TYPE_CHECKING:
    from edge_controller.uplink.diagnostics import DiagnosticsSource


class CommandSink(Protocol):
    def submit(self, command: Command) -> bool:
        """Queue a command without blocking; False when it cannot be accepted now."""
        ...

    async def decide(self, command: Command) -> CommandResult:
        """Apply a command now and return the owner's own decision, for the answers that must
        tell the truth (RemoteStartTransaction, ReserveNow). Quick: it never waits on the
        CSMS (a start it must authorise again is authorised after the answer)."""
        ...


class StatusSource(Protocol):
    def connectors(self) -> Sequence[ConnectorView]:
        """The latest view of every connector (ids ``<charger>:<n>``)."""
        ...

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        """The latest views of these connectors only (a connector not read yet is left out).
        Each identity's loops ask every second: with an identity per charger, joining the
        whole site for each would cost connectors x identities."""
        ...

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        """The status, session and fault of these connectors only, as their views show them
        (a connector not read yet is left out): what each identity's loops look at every
        second, made without the prices or a copy of each view."""
        ...

    def reservation_ids(self) -> frozenset[int]:
        """Ids of every live reservation, also those no connector shows (connector 0)."""
        ...


def views_among(
    views: Iterable[ConnectorView], connector_ids: Collection[str]
) -> list[ConnectorView]:
    """``StatusSource.connectors_of`` for a source that holds few connectors (tests, benchmarks)."""
    wanted = set(connector_ids)
    return [v for v in views if v.connector_id in wanted]


def states_among(
    views: Iterable[ConnectorView], connector_ids: Collection[str]
) -> list[ConnectorState]:
    """``StatusSource.states_of`` for a source that holds few connectors (tests, benchmarks)."""
    return [ConnectorState.of(v) for v in views_among(views, connector_ids)]


@dataclass(frozen=True, slots=True)
class MeterSample:
    """Electrical values of one connector at ``at_s`` (None: not measured by that hardware)."""

    at_s: float
    energy_register_wh: float | None = None
    power_w: float | None = None
    current_a: tuple[float, float, float] | None = None
    voltage_v: tuple[float, float, float] | None = None
    offered_current_a: float | None = None
    soc_pct: float | None = None


class MeterSource(Protocol):
    def sample(self, connector_id: str) -> MeterSample | None: ...


class QueuedMessage(Protocol):
    """One outbox row as the sender reads it (``storage.outbox.OutboxMessage``)."""

    @property
    def seq(self) -> int: ...
    @property
    def identity(self) -> str: ...
    @property
    def event(self) -> OutboxEvent | None:
        """None when the stored event cannot be read (``unreadable`` says why)."""
        ...

    @property
    def unreadable(self) -> str | None: ...
    @property
    def session_local_id(self) -> int | None: ...
    @property
    def remote_transaction_id(self) -> int | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def created_at_s(self) -> float: ...
    @property
    def session_position(self) -> int | None:
        """How many events of its session were queued before it (None: no session)."""
        ...

    @property
    def session_cost(self) -> dict[str, Any] | None:
        """The session's final cost (breakdown JSON) if it was priced when this was queued."""
        ...

    @property
    def session_limit(self) -> TransactionLimit | None:
        """The CSMS's limit of the session if it was set when this was queued."""
        ...

    @property
    def session_tariff_id(self) -> str | None:
        """The tariff pricing the session when this was queued (None: it has none)."""
        ...


class TransactionOutbox(Protocol):
    """The outbox as the uplink uses it (``storage.outbox.Outbox`` satisfies it)."""

    async def append(self, identity: str, event: OutboxEvent) -> int:
        """Commit ``event`` for ``identity``'s CSMS (the uplink's own: security events)."""
        ...

    async def append_while_open(self, identity: str, event: MeterSampled) -> bool:
        """Commit a sample of a transaction no session runs in, only while that is still
        open (False: it ended, or a session joined it, meanwhile)."""
        ...

    async def peek_many(
        self, identity: str, *, after_seq: int | None = None, limit: int = 1
    ) -> Sequence[QueuedMessage]: ...
    async def ack_many(
        self,
        seqs: Sequence[int],
        *,
        remote_ids: Mapping[int, int] | None = None,
        power_safe: bool = True,
    ) -> int: ...
    async def record_failure(self, seq: int, error: str) -> int: ...
    async def park(self, seq: int, error: str) -> None: ...
    async def backlog(self, identity: str | None = None) -> int: ...
    async def session_backlog(self, identity: str, session_local_id: int | None) -> int:
        """Pending messages of ``identity`` that belong to session ``session_local_id``
        (None: to any session)."""
        ...

    async def remote_transaction_id(self, session_local_id: int) -> int | None: ...

    def on_queued(self, listener: Callable[[Collection[str]], None]) -> None:
        """Call ``listener`` after each commit that put messages in line, with their
        identities (the senders wait for it instead of polling)."""
        ...


@dataclass(frozen=True, slots=True)
class SessionSample:
    """A running session's meter sample as the uplink took it: the readings the CSMS asked
    for (none: it asked for nothing this hardware measures) and the energy register."""

    identity: str
    energy_wh: float | None  # the energy register; None when the hardware does not give it
    event: MeterSampled  # its ``session_local_id`` is the running session's


class SessionSamples(Protocol):
    """The session side records every sample the uplink takes of a running session."""

    async def record_sample(self, sample: SessionSample) -> bool:
        """Keep the energy register and its time as the session's last known ones (what a
        session closed after a power loss stops at) and queue the sample (when it has
        readings), in one commit; False, and nothing recorded, when the session has ended
        meanwhile."""
        ...


class TransactionListener(Protocol):
    def transaction_confirmed(
        self, session_local_id: int, transaction_id: int, id_tag_status: str
    ) -> None:
        """The CSMS answered StartTransaction; a status other than Accepted means the session
        should end as StopTransactionOnInvalidId says (the session side decides)."""
        ...


class LimitSink(Protocol):
    """External limits from CSMS charging profiles, for the load balancer (never setpoints).

    ``scope`` is the OCPP identity; ``total`` caps the sum of its connectors (per phase).
    """

    def set_external_limits(
        self, scope: str, connectors: Mapping[str, Limit], total: Limit | None
    ) -> None: ...


class AuthLists(Protocol):
    """The local authorization list and cache (``storage.auth_store.AuthStore`` satisfies it)."""

    async def clear_cache(self) -> None: ...
    async def local_list_version(self) -> int: ...
    async def replace_local_list(self, version: int, entries: Iterable[AuthEntry]) -> None: ...
    async def update_local_list(
        self,
        version: int,
        upserts: Iterable[AuthEntry],
        removals: Iterable[str | tuple[str, str]] = ...,
    ) -> None:
        """``removals``: a value (1.6: every entry of it) or a (value, 2.x type) pair."""


@dataclass(frozen=True, slots=True)
class TariffAssigned:
    """The tariff a scope (``*`` the site, a charger id, a connector id) uses, and its source."""

    scope: str
    tariff_id: str
    source: str
    valid_from: str | None = None  # ISO 8601


class CentralPrices(Protocol):
    """Prices and costs from a CSMS: costs it calculates go to be shown (not priced again
    here), tariffs it sets are the site's (newest wins, every change logged with its source)."""

    async def transaction_cost(self, transaction_id: int, cost: CentralCost) -> bool:
        """False: no session of this site has that CSMS transaction id."""
        ...

    async def session_cost(self, session_local_id: int, cost: CentralCost) -> bool:
        """A cost for the site's session ``session_local_id`` (2.x names sessions by theirs);
        False: no such session, or a running cost of one that ended."""
        ...

    async def user_price(self, id_tag: str, text: str) -> bool:
        """A driver's price text, shown with their session."""
        ...

    async def default_price(self, tariff: dict[str, Any]) -> bool:
        """The CSMS's default price as a tariff (``domain.pricing.codec`` shape without its
        currency) for the whole site; False: the site cannot take it."""
        ...

    async def set_tariff(self, scope: str, tariff: dict[str, Any], source: str) -> str | None:
        """A tariff (``domain.pricing.codec`` shape) for ``scope``: None when taken, else why
        not."""
        ...

    async def clear_tariff(self, scope: str, source: str, tariff_id: str | None) -> str | None:
        """Remove the tariff of ``scope`` (only ``tariff_id``, when named): the id removed."""
        ...

    def tariffs(self) -> list[TariffAssigned]: ...

    async def tariff_conflicts(self, tariff: dict[str, Any]) -> bool:
        """Whether the tariff's id is already stored with other content."""
        ...

    async def driver_tariff(
        self, id_tag: str, tariff: dict[str, Any] | None, source: str
    ) -> str | None:
        """The tariff for one driver's next session (None: they have none): None when taken,
        else why not."""
        ...

    def currency(self) -> str | None:
        """The currency the site prices in (None: it has no tariff)."""
        ...


class DisplayBoard(Protocol):
    """Where what a CSMS sets for drivers goes to be shown (the display page, MQTT)."""

    def replace(self, station: str, messages: Sequence[DisplayMessage]) -> None:
        """Every message of ``station`` (an OCPP identity) now, replacing its earlier ones."""
        ...

    def set_template(self, station: str, template: str | None) -> None:
        """The payment URL template a 1.6 CSMS set (``WebPaymentUrl``; None: none)."""
        ...

    def hold(self, hold: PaymentHold) -> None:
        """A connector held for a web payment (OCPP 2.1 NotifyWebPaymentStarted)."""
        ...


@dataclass(frozen=True, slots=True)
class SitePorts:
    """Everything the uplink reaches in the site, each a port or a channel made before it.

    ``meters`` and ``samples``: where MeterValues come from and who records those of a running
    session (both needed for MeterValues). ``authorization``: the session side's Authorize
    requests, served while the uplink runs. Optional ports leave their feature out (smart
    charging without ``limits``, the local list without ``auth_lists``)."""

    commands: CommandSink
    status: StatusSource
    outbox: TransactionOutbox
    outbox_wakeup: OutboxWakeup = field(default_factory=OutboxWakeup)
    authorization: CsmsAuthorization | None = None
    transactions: TransactionListener | None = None
    meters: MeterSource | None = None
    samples: SessionSamples | None = None
    limits: LimitSink | None = None
    auth_lists: AuthLists | None = None
    diagnostics: DiagnosticsSource | None = None
    prices: CentralPrices | None = None
    display: DisplayBoard | None = None
    # The site's gateway faults (several gateways on one grid connection): they belong to no
    # charger, so the first identity's charge point reports them (1.6: connector 0's status).
    station_faults: Callable[[], Sequence[GatewayFault]] | None = None


@dataclass(frozen=True, slots=True)
class GridFacts:
    """The site's grid connection as configured, reported as the site's own components."""

    limit_a: float  # per phase
    power_limit_w: float | None = None
    fallback_current_a: float = 6.0  # per connector while the grid meter is stale
    stale_after_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Station:
    """Facts about the station the uplink reports or converts with (from the site's config).

    ``phase_rotations``: each connector's wiring (``L2L3L1``; one phase: ``L1``), reported as
    ConnectorPhaseRotation; ``connection_timeout_s``: the session side's plug timeout
    (ConnectionTimeOut); ``max_current_a``: the most a charging profile may ask for."""

    electrical: Electrical = field(default_factory=lambda: Electrical(230.0, 3))
    max_current_a: float = 32.0
    connection_timeout_s: float = 60.0
    phase_rotations: Mapping[str, str] = field(default_factory=dict)
    grid: GridFacts | None = None
    web_payment_hold_s: float = 300.0  # the longest a web payment holds a connector
