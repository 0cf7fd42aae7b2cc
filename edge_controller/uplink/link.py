"""State shared by everything that serves one OCPP identity on one connection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge_controller.config.settings import OcppSettings
from edge_controller.domain.security import SecurityEventKind
from edge_controller.domain.snapshot import GatewayFault
from edge_controller.log import get_logger
from edge_controller.uplink.auth_key import KeyFile
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.ports import (
    AuthLists,
    CentralPrices,
    CommandSink,
    StatusSource,
    TransactionListener,
    TransactionOutbox,
)
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.wakeup import Wakeup

if TYPE_CHECKING:
    from edge_controller.domain.pricing.central import CentralCost
    from edge_controller.uplink.certificates import CertificateStore
    from edge_controller.uplink.diagnostics import DiagnosticsSource
    from edge_controller.uplink.metering import Metering
    from edge_controller.uplink.network_profiles import NetworkProfiles
    from edge_controller.uplink.repeated_lines import RepeatedLines
    from edge_controller.uplink.security_events import SecurityEvents
    from edge_controller.uplink.smart import SmartCharging
    from edge_controller.uplink.v16.cost_triggers import NextPeriod, TriggerState
    from edge_controller.uplink.v201.display import DisplayMessages201
    from edge_controller.uplink.v201.online import OnlinePeriods
    from edge_controller.uplink.v201.web_payment import WebPayments201

FOLLOWUP_QUEUE_SIZE = 16
SETTING_SYSTEM_TIME = SecurityEventKind.SETTING_SYSTEM_TIME


@dataclass(frozen=True, slots=True)
class Trigger:
    """Send ``message`` (a TriggerMessage requestedMessage) once the CALLRESULT is out."""

    message: str
    connector: int | None = None


@dataclass(frozen=True, slots=True)
class Reboot:
    """Close this connection and boot again (Reset)."""

    kind: str


@dataclass(frozen=True, slots=True)
class UploadDiagnostics:
    location: str
    file_name: str
    retries: int
    retry_interval_s: float


@dataclass(frozen=True, slots=True)
class UploadLog:
    """A 2.x GetLog accepted: upload the bundle by PUT to ``location``. ``security``: the
    security log's entries between ``oldest_s`` and ``latest_s`` (None: open), instead of the
    diagnostics bundle."""

    location: str
    file_name: str
    request_id: int
    retries: int
    retry_interval_s: float
    security: bool = False
    oldest_s: float | None = None
    latest_s: float | None = None


Followup = Trigger | Reboot | UploadDiagnostics | UploadLog


@dataclass(frozen=True, slots=True)
class IdentityCore:
    """What each part serving one identity reads: who it is, its connectors, its stored
    configuration, the site's state and outbox, and the clocks. Made first: the parts that
    need it are made from it, then the link with them."""

    identity: str
    topology: Topology
    config: OcppStateFile
    status: StatusSource
    outbox: TransactionOutbox
    clock: ClockSync
    now_s: Callable[[], float]
    # The identity's one logger, shared by its parts and its link (a bound logger each was
    # a few hundred bytes per part and identity).
    log: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.log is None:
            object.__setattr__(self, "log", get_logger("uplink", identity=self.identity))

    def connector_numbers(self) -> list[int]:
        return list(range(1, len(self.topology.connectors(self.identity)) + 1))


@dataclass(slots=True)
class CostWatch:
    """What a 1.6 RunningCost asked for on connector number ``connector``: MeterValues when
    its trigger is met, its next period's price text shown (with ``cost``) when it starts."""

    connector: int
    cost: CentralCost
    trigger: TriggerState | None = None
    next_period: NextPeriod | None = None


@dataclass(slots=True)  # one per identity: no instance dict of some forty entries each
class IdentityLink:
    identity: str
    settings: OcppSettings
    topology: Topology
    config: OcppStateFile
    commands: CommandSink
    status: StatusSource
    outbox: TransactionOutbox
    clock: ClockSync
    now_s: Callable[[], float]
    auth_lists: AuthLists | None = None
    diagnostics: DiagnosticsSource | None = None
    transactions: TransactionListener | None = None
    auth_key: KeyFile | None = None  # where a CSMS-set AuthorizationKey is kept
    # A session-rule key (LocalAuthorizeOffline...) changed: True once the site applies it.
    session_key_changed: Callable[[str, str], bool] | None = None
    prices: CentralPrices | None = None  # costs and prices the CSMS calculates, to be shown
    # The site's gateway faults, reported as its charge point's (1.6 connector 0) status; on
    # the first identity only (``SitePorts.station_faults``).
    station_faults: Callable[[], Sequence[GatewayFault]] | None = None
    accepted: bool = False
    booted: bool = False  # an OCPP 2.x boot was accepted in this process (not sent again)
    boot_reason: str = "PowerUp"  # of the next 2.x boot (a Reset boots again)
    # A 2.x Reset OnIdle answered Scheduled and not done yet: each connection waits for the
    # transactions to end and then resets (B12), also one made after a connection loss. Not
    # kept across a restart of the process: that restart is the reset.
    reset_scheduled: bool = False
    online_periods: OnlinePeriods | None = None  # when it was online (OCPP 2.x ``offline``)
    security: SecurityEvents | None = None  # where its security events are raised
    certificates: CertificateStore | None = None  # its client certificate and installed roots
    network: NetworkProfiles | None = None  # the CSMS's network profiles, the security floor
    # Released, not yet run, in order (a list: no queue with its waiters kept per identity).
    # Bounded; overflow drops the newest follow-up with a log line (a CSMS flooding triggers).
    followups: list[Followup] = field(default_factory=list)
    staged: list[Followup] = field(default_factory=list)
    # Told when follow-ups were released (the connection's ``FollowupRunner``); None offline.
    followups_released: Callable[[], None] | None = None
    heartbeat_changed: Wakeup = field(default_factory=Wakeup)
    # Made before the link from its core by ``OcppUplink``, when their ports are wired in.
    smart: SmartCharging | None = None
    metering: Metering | None = None
    display: DisplayMessages201 | None = None  # the CSMS's display messages (2.x)
    web_payments: WebPayments201 | None = None  # connectors held for web payments (2.1)
    diagnostics_status: str = "Idle"
    # The 2.x GetLog accepted and not yet ended (its requestId), and the one being uploaded.
    log_accepted: int | None = None
    log_uploading: int | None = None
    # An upload the end of its connection cut off: told UploadFailure after the next connect.
    log_interrupted: int | None = None
    # The status last reported per connector number, across connections: the next report
    # starts from it (``uplink.status.steps``), so no change the OCPP table forbids is sent.
    reported: dict[int, str] = field(default_factory=dict)
    # 1.6 costmsg RunningCost triggers and next periods, by the CSMS's transaction id.
    cost_watches: dict[int, CostWatch] = field(default_factory=dict)
    # Its core's (``IdentityCore.log``); None: bound here.
    log: Any = field(default=None, repr=False, compare=False)
    # Where lines every identity writes at once go (folded); None: to ``log``.
    lines: RepeatedLines | None = None

    def __post_init__(self) -> None:
        if self.log is None:
            self.log = get_logger("uplink", identity=self.identity)

    async def synced(self, csms_time_iso: str) -> None:
        """The CSMS told its time: the skew is learned; a time the site reports that this
        sets is a security event (SettingSystemTime)."""
        if self.clock.sync(csms_time_iso, self.now_s()) and self.security is not None:
            offset = f"offset {self.clock.offset_s:.0f} s"
            await self.security.raise_event(SETTING_SYSTEM_TIME, offset)

    def stage(self, followup: Followup) -> None:
        """Called from a handler; released only after the handler's answer was sent."""
        self.staged.append(followup)

    def release_staged(self) -> None:
        for followup in self.staged:
            if len(self.followups) < FOLLOWUP_QUEUE_SIZE:
                self.followups.append(followup)
                continue
            self.log.warning("follow-up dropped, queue full", followup=repr(followup))
            if isinstance(followup, UploadLog) and self.log_accepted == followup.request_id:
                self.log_accepted = None  # it never runs: no later GetLog waits for it
        self.staged.clear()
        if self.followups and self.followups_released is not None:
            self.followups_released()

    def connector_numbers(self) -> list[int]:
        return list(range(1, len(self.topology.connectors(self.identity)) + 1))

    def info_repeated(self, event: str, **fields: Any) -> None:
        """A line each identity writes at once (each boot after an outage): folded."""
        if self.lines is None:
            self.log.info(event, **fields)
        else:
            self.lines.info(event, self.identity, **fields)
