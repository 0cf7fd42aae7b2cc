"""Shared pieces for the OCPP integration tests: a real outbox, a real CSMS, the uplink."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_controller.app.uplink import SessionSampleRecorder
from edge_controller.config.settings import OcppSettings
from edge_controller.domain.commands import Command, CommandResult, Reserve, StartSession
from edge_controller.domain.model import Limit
from edge_controller.domain.snapshot import (
    Availability,
    ConnectorState,
    ConnectorView,
    GatewayFault,
)
from edge_controller.services.sessions.recorder import SessionRecorder
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.uplink.diagnostics import DiagnosticsSource
from edge_controller.uplink.ports import (
    AuthLists,
    CentralPrices,
    CommandSink,
    DisplayBoard,
    MeterSample,
    SitePorts,
    Station,
    states_among,
    views_among,
)
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.topology import Topology

if TYPE_CHECKING:
    # Annotations only: a test of what the uplink loads (lean_child) runs the CSMS in a process
    # of its own, and the bench CSMS imports the ``ocpp`` package's ChargePoint.
    from edge_controller.sim.csms import BenchCsms

IDENTITY = "site1"


@dataclass
class FakeSite:
    """The daemon side the uplink talks to: records commands, serves connector views."""

    views: dict[str, ConnectorView] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    confirmed: list[tuple[int, int, str]] = field(default_factory=list)

    def transaction_confirmed(
        self, session_local_id: int, transaction_id: int, id_tag_status: str
    ) -> None:
        self.confirmed.append((session_local_id, transaction_id, id_tag_status))

    def submit(self, command: Command) -> bool:
        self.commands.append(command)
        return True

    async def decide(self, command: Command) -> CommandResult:
        """Takes every command; a start goes to the first connector offered."""
        self.commands.append(command)
        if isinstance(command, StartSession):
            return CommandResult.success((command.any_of or (command.connector_id,))[0])
        if isinstance(command, Reserve):
            return CommandResult(True, None, command.connector_id, "Accepted")
        return CommandResult.success()

    def connectors(self) -> Sequence[ConnectorView]:
        return list(self.views.values())

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        return views_among(self.connectors(), connector_ids)

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return states_among(self.connectors(), connector_ids)

    def reservation_ids(self) -> frozenset[int]:
        return frozenset(v.reservation_id for v in self.views.values() if v.reservation_id)

    def set(self, connector_id: str, availability: Availability, **changes: Any) -> None:
        view = self.views.get(connector_id) or ConnectorView(connector_id, availability, 16.0, "")
        self.views[connector_id] = replace(view, availability=availability, **changes)


def settings_for(url: str, **overrides: Any) -> OcppSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "url": url,
        "identity": IDENTITY,
        "call_timeout_s": 2.0,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
        # A pong late by seconds is what a loaded machine gives, not a dead link: tests of dead
        # links set their own, shorter, times.
        "ping_interval_s": 5.0,
        "dead_timeout_s": 10.0,
        "transaction_message_retry_interval_s": 1.0,
    }
    values.update(overrides)
    return OcppSettings(**values)


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def all_answered(uplink: OcppUplink, csms: BenchCsms, identity: str = IDENTITY) -> bool:
    """Every transaction message the CSMS noted was answered and taken in by the sender (its
    ack is then written, at the latest when the uplink stops): the CSMS notes a call before
    it answers, so its record alone can be one answer ahead of the sender."""
    actions = ("StartTransaction", "MeterValues", "StopTransaction", "SecurityEventNotification")
    noted = sum(1 for i, a, _ in csms.record.calls if i == identity and a in actions)
    session = uplink.sessions.get(identity)
    return session is not None and session.sender.sent == noted


_DATABASES: weakref.WeakKeyDictionary[Outbox, Database] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def open_outbox(path: Path) -> AsyncIterator[Outbox]:
    db = await Database.open(path)
    try:
        outbox = Outbox(db)
        _DATABASES[outbox] = db
        yield outbox
    finally:
        await db.close()


def outbox_on(db: Database) -> Outbox:
    """An outbox on ``db``, known to ``database_of`` (as ``open_outbox``'s are)."""
    outbox = Outbox(db)
    _DATABASES[outbox] = db
    return outbox


def database_of(outbox: Outbox) -> Database:
    """The database ``outbox`` (from ``open_outbox``) lives in."""
    return _DATABASES[outbox]


def session_store(outbox: Outbox) -> SessionStore:
    """The sessions of the database ``outbox`` (from ``open_outbox``) lives in."""
    return SessionStore(_DATABASES[outbox])


def auth_store(outbox: Outbox) -> AuthStore:
    """The local list and cache of the database ``outbox`` (from ``open_outbox``) lives in."""
    return AuthStore(_DATABASES[outbox])


def sample_recorder(outbox: Outbox) -> SessionSampleRecorder:
    """The session side's recorder of uplink samples, on the outbox's database, as wired in
    the daemon."""
    return SessionSampleRecorder(SessionRecorder(session_store(outbox), {}, None))


@asynccontextmanager
async def running_csms(csms: BenchCsms) -> AsyncIterator[int]:
    server = await csms.start("127.0.0.1", 0)
    try:
        yield next(iter(server.sockets)).getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def running_uplink(
    settings: OcppSettings,
    site: FakeSite,
    outbox: Outbox,
    state_dir: Path,
    chargers: dict[str, int],
    *,
    now_s: Callable[[], float] = time.time,
    meters: FakeMeters | None = None,
    limits: FakeLimits | None = None,
    auth_lists: AuthLists | None = None,
    diagnostics: DiagnosticsSource | None = None,
    prices: CentralPrices | None = None,
    commands: CommandSink | None = None,
    station: Station | None = None,
    display: DisplayBoard | None = None,
    authorization: CsmsAuthorization | None = None,
    versions: Mapping[str, tuple[str, ...]] | None = None,
    station_faults: Callable[[], Sequence[GatewayFault]] | None = None,
) -> AsyncIterator[OcppUplink]:
    """``commands``: where CSMS commands go (default: ``site`` records them). ``versions``:
    the OCPP versions an identity offers instead of ``settings``' (a charger's own);
    ``station_faults``: the site's gateway faults."""
    topology = Topology(settings.topology, settings.identity or IDENTITY, chargers)
    ports = SitePorts(
        commands=commands or site,
        status=site,
        outbox=outbox,
        transactions=site,
        meters=meters,
        samples=sample_recorder(outbox) if meters is not None else None,
        limits=limits,
        auth_lists=auth_lists,
        diagnostics=diagnostics,
        prices=prices,
        display=display,
        authorization=authorization,
        station_faults=station_faults,
    )
    uplink = OcppUplink(
        settings, topology, ports, station, state_dir=state_dir, now_s=now_s, versions=versions
    )
    task = asyncio.create_task(uplink.run())
    try:
        yield uplink
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@dataclass
class FakeMeters:
    """Meter samples per connector, as the telemetry side would provide them."""

    samples: dict[str, MeterSample] = field(default_factory=dict)

    def sample(self, connector_id: str) -> MeterSample | None:
        return self.samples.get(connector_id)


@dataclass
class FakeLimits:
    """What the load balancer receives from the uplink."""

    connectors: dict[str, Limit] = field(default_factory=dict)
    total: Limit | None = None
    updates: int = 0

    def set_external_limits(
        self, scope: str, connectors: Mapping[str, Limit], total: Limit | None
    ) -> None:
        self.connectors, self.total = dict(connectors), total
        self.updates += 1
