"""One life of the crash test with the uplink: the session manager, the outbox and the real OCPP
uplink against a CSMS that records every message it receives, run by the daemon's own task
group and shutdown sequence (``app.Daemon``: SIGTERM stops it in order, SIGKILL does not).

The schedule advances one virtual second per ``STEP_S`` of real time, slow enough for the uplink
to keep up, so an orderly stop finds the outbox nearly drained as on a real site.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TextIO

from edge_controller.app.daemon import Daemon
from edge_controller.config.settings import Settings
from edge_controller.domain.commands import ChangeSessionRules, Command
from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthPolicy, AuthStatus
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView
from edge_controller.services.sessions.auth import TokenAuthorizer
from edge_controller.services.sessions.events import SessionEvent
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.recorder import SessionRecorder
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.systemd import Notifier
from edge_controller.uplink.ports import SitePorts, states_among, views_among
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.wakeup import OutboxWakeup
from tests.integration.crash import schedule
from tests.integration.crash.child import (
    IDENTITY,
    Gate,
    ScheduleMeter,
    VirtualClock,
    after_outage,
    attach_pricing,
    resume_time,
)

STEP_S = 0.02
GRACE_S = 3.0
DRAIN_WAIT_S = 60.0  # the final life waits this long at most for the outbox to empty
VERSION_ENV = "CRASH_OCPP_VERSION"  # the OCPP version the lives speak (default 1.6)
# "EVConnected": the lives start a transaction at the plug-in (2.x TxStartPoint), which the
# CSMS would have set; the session joins it at the card a virtual second later. "Authorized":
# the card comes a virtual second before the plug-in and starts it; the session joins it at the
# plug-in.
START_POINT_ENV = "CRASH_TX_START_POINT"
# "EVConnected": a transaction ends only when its EV leaves (2.x TxStopPoint EVConnected
# alone): after a session the card or a fault ended, it goes on until the unplug.
STOP_POINT_ENV = "CRASH_TX_STOP_POINT"


class Views:
    """The uplink's view of the connectors: which has an open session."""

    def __init__(self, manager: SessionManager) -> None:
        self._manager = manager

    def connectors(self) -> Sequence[ConnectorView]:
        views = []
        for cid in schedule.CONNECTORS:
            record = self._manager.open_session(cid)
            shown = Availability.CHARGING if record else Availability.AVAILABLE
            session_id = str(record.local_id) if record else None
            views.append(ConnectorView(cid, shown, 16.0, "", session_id=session_id))
        return views

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        return views_among(self.connectors(), connector_ids)

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return states_among(self.connectors(), connector_ids)

    def reservation_ids(self) -> frozenset[int]:
        return frozenset()


class Commands:
    """CSMS commands are not part of this test: taken and dropped."""

    def submit(self, command: Command) -> bool:
        del command
        return True


class Life:
    """The schedule driver and the sessions as daemon services."""

    def __init__(self, manager: SessionManager, clock: VirtualClock, events: TextIO) -> None:
        self.manager, self.clock, self.events = manager, clock, events
        self.card_first = os.environ.get(START_POINT_ENV) == "Authorized"
        self._queue: asyncio.Queue[SessionEvent] = manager.events.subscribe(maxsize=10_000)
        self.steps = 0

    def write_events(self) -> None:
        """Only after the manager returned, i.e. after the commit."""
        while not self._queue.empty():
            e = self._queue.get_nowait()
            self.events.write(f"{e.kind} {e.local_id} {e.meter_wh} {e.reason}\n")
        self.events.flush()

    async def step(self) -> None:
        for index, cid in enumerate(schedule.CONNECTORS):
            await self.manager.on_charger_status(cid, schedule.status_at(index, self.clock.t))
            if schedule.tap_at(index, self.clock.t, card_first=self.card_first):
                await self.manager.on_token(Token(schedule.id_tag(index)), cid)
        await self.manager.tick()
        self.write_events()
        self.clock.t += 1
        self.steps += 1


class Driver:
    def __init__(self, life: Life) -> None:
        self._life = life

    async def run(self) -> None:
        while True:
            await self._life.step()
            await asyncio.sleep(STEP_S)


class Sessions:
    """Shut down first, as in the daemon: every open session closed with reason Reboot."""

    def __init__(self, life: Life) -> None:
        self._life = life

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def shutdown(self) -> None:
        await self._life.manager.shutdown()
        self._life.write_events()


class Finisher:
    """The final life: a number of steps, then the outbox delivered, then an orderly stop."""

    def __init__(self, life: Life, steps: int, outbox: Outbox, daemon: list[Daemon]) -> None:
        self._life, self._steps, self._outbox, self._daemon = life, steps, outbox, daemon

    async def run(self) -> None:
        while self._life.steps < self._steps:
            await self._life.step()
            await asyncio.sleep(STEP_S)
        await self._life.manager.shutdown()  # the sessions end before the outbox is waited for
        self._life.write_events()
        deadline = time.monotonic() + DRAIN_WAIT_S
        while time.monotonic() < deadline:
            if await self._outbox.backlog() == 0:
                break
            await asyncio.sleep(0.05)
        self._daemon[0].request_stop()
        await asyncio.Event().wait()


def _settings(url: str) -> Settings:
    ocpp = {
        "enabled": True,
        "url": url,
        "identity": IDENTITY,
        "call_timeout_s": 2.0,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
        "transaction_message_retry_interval_s": 1.0,
        "version": os.environ.get(VERSION_ENV, "1.6"),
    }
    site = {"id": "crash-site", "grid_limit_a": 63, "shutdown_grace_s": GRACE_S}
    return Settings.model_validate({"site": site, "ocpp": ocpp})


async def _manager(db: Database, clock: VirtualClock, outbox_wakeup: OutboxWakeup
                   ) -> SessionManager:  # fmt: skip
    auth_store = AuthStore(db)
    if await auth_store.local_list_version() == 0:
        entries = [AuthEntry(schedule.id_tag(i), AuthStatus.ACCEPTED) for i in range(4)]
        await auth_store.replace_local_list(1, entries)
    meters = {cid: ScheduleMeter(i, clock) for i, cid in enumerate(schedule.CONNECTORS)}
    recorder = SessionRecorder(
        SessionStore(db), meters, lambda _: IDENTITY, on_queued=outbox_wakeup.set
    )
    await attach_pricing(recorder, db, clock)
    manager = SessionManager(
        schedule.CONNECTORS, recorder, TokenAuthorizer(auth_store, None, AuthPolicy()), Gate(),
        timeouts=Timeouts(plug_timeout_s=5.0), sampling=Sampling(interval_s=2.0, aligned_s=5.0),
        clock=clock,
    )  # fmt: skip
    start_point = os.environ.get(START_POINT_ENV)
    manager.change_rules(ChangeSessionRules(
        start_at_plug=start_point == "EVConnected",
        start_at_authorization=start_point == "Authorized",
        stop_only_at_unplug=os.environ.get(STOP_POINT_ENV) == "EVConnected",
    ))  # fmt: skip
    return manager


async def run(
    db_path: Path, events: TextIO, url: str, steps: int | None, outage: bool = False
) -> None:
    settings = _settings(url)
    db = await Database.open(db_path)
    try:
        clock = VirtualClock(after_outage(db_path) if outage else resume_time(db_path))
        outbox_wakeup = OutboxWakeup()  # the channel first, then both ends
        manager = await _manager(db, clock, outbox_wakeup)
        for record in await manager.recover():
            events.write(f"recovered {record.local_id}\n")
        outbox = Outbox(db)
        topology = Topology("site", IDENTITY, {"cp1": 2, "cp2": 2})
        ports = SitePorts(Commands(), Views(manager), outbox, outbox_wakeup)
        uplink = OcppUplink(settings.ocpp, topology, ports, state_dir=db_path.parent)
        life = Life(manager, clock, events)
        daemon: list[Daemon] = []
        first = Driver(life) if steps is None else Finisher(life, steps, outbox, daemon)
        daemon.append(Daemon(settings, None, Notifier(""), [Sessions(life), first, uplink]))
        await daemon[0].run()
    finally:
        await db.close()


def main(
    db_path: Path, events_path: Path, url: str, steps: int | None, outage: bool = False
) -> None:
    with events_path.open("a", encoding="utf-8") as events:
        asyncio.run(run(db_path, events, url, steps, outage))
