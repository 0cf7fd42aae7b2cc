"""Reservations end to end: a real CSMS, the uplink and the real session manager wired as the
daemon wires them (command queue, command router, composed connector views)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from edge_controller.app.commands import CommandPort
from edge_controller.app.views import ConnectorViews
from edge_controller.domain.commands import Command
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView, SiteView
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.services.sessions.setup import SessionOptions, build_session_manager
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.ports import states_among, views_among
from tests.integration.ocpp.harness import FakeSite, running_csms, running_uplink, settings_for
from tests.integration.ocpp.harness import wait_for as wait
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, Gate, status

pytestmark = pytest.mark.integration
CONNECTORS = ("c1:1", "c1:2")


class LiveViews:
    """The charger side (``base``) joined with the session manager, as ``ConnectorViews``
    does."""

    def __init__(
        self, base: FakeSite, sessions: SessionManager, commands: CommandPort | None = None
    ) -> None:
        self.base = base
        self._views = ConnectorViews(cast(Any, None), sessions)
        self._sessions = sessions
        self._commands = commands

    def submit(self, command: Command) -> bool:
        """Commands the uplink raises itself go to the daemon's queue too."""
        return self._commands is not None and self._commands.submit(command)

    def transaction_confirmed(
        self, session_local_id: int, transaction_id: int, id_tag_status: str
    ) -> None:
        self.base.confirmed.append((session_local_id, transaction_id, id_tag_status))

    def connectors(self) -> Sequence[ConnectorView]:
        raw = SiteView("site", None, 32.0, None, None, tuple(self.base.views.values()))
        return self._views.join(raw)

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        return views_among(self.connectors(), connector_ids)

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return states_among(self.connectors(), connector_ids)

    def reservation_ids(self) -> frozenset[int]:
        return self._sessions.reservation_ids()


class Controller:
    """The site controller's part in this test: it takes the availability commands."""

    def __init__(self) -> None:
        self.applied: list[Command] = []

    async def apply(self, command: Command) -> None:
        self.applied.append(command)


@asynccontextmanager
async def site_with_sessions(
    tmp_path: Path, clock: Clock
) -> AsyncIterator[tuple[SessionManager, Database]]:
    db = await Database.open(tmp_path / "edge.db")
    try:
        tags = [AuthEntry(t, AuthStatus.ACCEPTED) for t in ("AABBCCDD", "11223344")]
        await AuthStore(db).replace_local_list(1, tags)
        options = SessionOptions(timeouts=Timeouts(60.0, None), sampling=Sampling(0, 0))
        meters = {c: CounterMeter() for c in CONNECTORS}
        manager = build_session_manager(
            db, CONNECTORS, Gate(), meters, route=lambda _c: "site1", options=options, clock=clock
        )
        await manager.recover()
        yield manager, db
    finally:
        await db.close()


def reported(csms: BenchCsms, connector: int) -> list[str]:
    return [
        str(p["status"])
        for _, action, p in csms.record.calls
        if action == "StatusNotification" and p["connectorId"] == connector
    ]


def reserve(connector: int, rid: int, in_s: float = 600.0) -> dict[str, object]:
    return {"connectorId": connector, "expiryDate": to_iso(time.time() + in_s),
            "idTag": "AABBCCDD", "reservationId": rid}  # fmt: skip


async def test_reserve_start_expire_and_cancel_through_the_session_manager(
    tmp_path: Path,
) -> None:
    csms, base, clock = BenchCsms(), FakeSite(), Clock(time.time())
    for cid in CONNECTORS:
        base.set(cid, Availability.AVAILABLE)
    async with (
        running_csms(csms) as port,
        site_with_sessions(tmp_path, clock) as (manager, db),
        asyncio.TaskGroup() as group,
    ):
        commands = CommandPort(cast(Any, Controller()), manager)
        worker = group.create_task(commands.run())
        outbox = Outbox(db)  # the sessions' own database, as in the daemon
        settings = settings_for(f"ws://127.0.0.1:{port}")
        views = LiveViews(base, manager, commands)
        async with running_uplink(
            settings, cast(FakeSite, views), outbox, tmp_path, {"c1": 2}, commands=commands
        ) as uplink:
            await wait(lambda: uplink.online and "site1" in csms.connected)
            assert await csms.send("site1", "ReserveNow", reserve(1, 11)) == {"status": "Accepted"}
            assert await csms.send("site1", "ReserveNow", reserve(2, 12)) == {"status": "Accepted"}
            await wait(lambda: "Reserved" in reported(csms, 1) and "Reserved" in reported(csms, 2))

            # Someone else plugs in and taps: refused. The reserved card starts the session.
            base.set("c1:1", Availability.PREPARING)
            await manager.on_charger_status("c1:1", status(CpState.B))
            assert not (await manager.on_token(Token("11223344"), "c1:1")).accepted
            assert (await manager.on_token(Token("AABBCCDD"), "c1:1")).accepted
            base.set("c1:1", Availability.CHARGING)
            await wait(lambda: "StartTransaction" in csms.actions())
            assert manager.reserved("c1:1") is None

            # Connector 2: the reservation expires, then a new one is cancelled (the session
            # side's clock is now ahead of the CSMS's: the new expiry must lie beyond it).
            clock.now_s += 700
            await manager.tick()
            await wait(lambda: reported(csms, 2)[-1] == "Available")
            again = await csms.send("site1", "ReserveNow", reserve(2, 13, 3600))
            assert again == {"status": "Accepted"}
            await wait(lambda: reported(csms, 2)[-1] == "Reserved")
            cancel = await csms.send("site1", "CancelReservation", {"reservationId": 13})
            await wait(lambda: reported(csms, 2)[-1] == "Available")
        worker.cancel()
    assert cancel == {"status": "Accepted"}
    start = next(p for _, a, p in csms.record.calls if a == "StartTransaction")
    assert start["reservationId"] == 11 and start["idTag"] == "AABBCCDD"
    assert reported(csms, 1)[-1] == "Charging"
    assert base.confirmed == [(1, 1, "Accepted")]
