"""Connector-0 reservations end to end: a real CSMS (and the schema-strict peer), the uplink and
the real session manager wired as the daemon wires them (command queue, router, views)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from edge_controller.app.commands import CommandPort
from edge_controller.domain.commands import Command, Reserve, StartSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.state import Phase, Timeouts
from edge_controller.domain.snapshot import Availability
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.services.sessions.setup import SessionOptions, build_session_manager
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.telemetry import CommandResult
from edge_controller.uplink.clock import to_iso
from tests.integration.ocpp.harness import FakeSite, running_csms, running_uplink, settings_for
from tests.integration.ocpp.harness import wait_for as wait
from tests.integration.ocpp.strict_peer import strict_peer
from tests.integration.ocpp.test_reservation_sessions import Controller, LiveViews, reported
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, Gate, status

pytestmark = pytest.mark.integration
CONNECTORS = ("c1:1", "c1:2")
RESERVED_TAG, OTHER_TAG, THIRD_TAG = "AABBCCDD", "11223344", "55667788"


class Recording(CommandPort):
    """The daemon's command port, noting what became of each command."""

    results: list[tuple[Command, CommandResult]]

    async def decide(self, command: Command) -> CommandResult:
        result = await super().decide(command)
        self.results.append((command, result))
        return result


@asynccontextmanager
async def wired(tmp_path: Path, csms_port: int, clock: Clock) -> AsyncIterator[
    tuple[SessionManager, FakeSite, Recording]
]:  # fmt: skip
    """Sessions on one database, the uplink sending from its outbox, CSMS commands queued to the
    session manager as in the daemon."""
    db = await Database.open(tmp_path / "edge.db")
    try:
        tags = [AuthEntry(t, AuthStatus.ACCEPTED) for t in (RESERVED_TAG, OTHER_TAG, THIRD_TAG)]
        await AuthStore(db).replace_local_list(1, tags)
        options = SessionOptions(timeouts=Timeouts(60.0, None), sampling=Sampling(0, 0))
        meters = {c: CounterMeter() for c in CONNECTORS}
        manager = build_session_manager(
            db, CONNECTORS, Gate(), meters, route=lambda _c: "site1", options=options, clock=clock
        )
        await manager.recover()
        base = FakeSite()
        for cid in CONNECTORS:
            base.set(cid, Availability.AVAILABLE)
        router = Recording(cast(Any, Controller()), manager)
        router.results = []
        commands = router
        settings = settings_for(f"ws://127.0.0.1:{csms_port}")
        views = cast(FakeSite, LiveViews(base, manager, commands))
        async with asyncio.TaskGroup() as group:
            worker = group.create_task(commands.run())
            async with running_uplink(
                settings, views, Outbox(db), tmp_path, {"c1": 2}, commands=commands
            ) as uplink:
                await wait(lambda: uplink.online)
                yield manager, base, router
            worker.cancel()
    finally:
        await db.close()


def reserve_any(rid: int, tag: str = RESERVED_TAG, in_s: float = 600.0) -> dict[str, object]:
    return {"connectorId": 0, "expiryDate": to_iso(time.time() + in_s), "idTag": tag,
            "reservationId": rid}  # fmt: skip


def last(csms: BenchCsms, connector: int) -> str | None:
    seen = reported(csms, connector)
    return seen[-1] if seen else None


def started(csms: BenchCsms) -> list[dict[str, Any]]:
    return [p for _, a, p in csms.record.calls if a == "StartTransaction"]


async def plug_and_tap(manager: SessionManager, base: FakeSite, cid: str, tag: str) -> bool:
    base.set(cid, Availability.PREPARING)
    await manager.on_charger_status(cid, status(CpState.B))
    return (await manager.on_token(Token(tag), cid)).accepted


async def test_capacity_refusal_start_and_cancel_over_ocpp(tmp_path: Path) -> None:
    csms, clock = BenchCsms(), Clock(time.time())
    async with running_csms(csms) as port, wired(tmp_path, port, clock) as (manager, base, router):
        await wait(lambda: "site1" in csms.connected)
        first = await csms.send("site1", "ReserveNow", reserve_any(21))
        second = await csms.send("site1", "ReserveNow", reserve_any(22, THIRD_TAG))
        # Two reservations for two free connectors: both now show Reserved.
        await wait(lambda: last(csms, 1) == last(csms, 2) == "Reserved")
        third = await csms.send("site1", "ReserveNow", reserve_any(23, OTHER_TAG))
        cancel = await csms.send("site1", "CancelReservation", {"reservationId": 22})
        await wait(lambda: last(csms, 1) == last(csms, 2) == "Available")

        # Someone else starts on c1:1: allowed, c1:2 stays free for reservation 21 (Reserved).
        assert await plug_and_tap(manager, base, "c1:1", OTHER_TAG)
        base.set("c1:1", Availability.CHARGING)
        await wait(lambda: last(csms, 2) == "Reserved")
        # Neither a remote start nor a tap of another tag may take c1:2.
        remote = await csms.send("site1", "RemoteStartTransaction",
                                 {"connectorId": 2, "idTag": THIRD_TAG})  # fmt: skip
        await wait(lambda: any(isinstance(c, StartSession) for c, _ in router.results))
        assert not await plug_and_tap(manager, base, "c1:2", THIRD_TAG)
        assert manager.phase("c1:2") is Phase.WAIT_AUTH
        # The reserved card starts there; StartTransaction names the reservation.
        assert (await manager.on_token(Token(RESERVED_TAG), "c1:2")).accepted
        await wait(lambda: len(started(csms)) == 2)
        after_use = await csms.send("site1", "ReserveNow", reserve_any(24))
    assert (first, second, third) == ({"status": "Accepted"}, {"status": "Accepted"},
                                      {"status": "Occupied"})  # fmt: skip
    assert cancel == {"status": "Accepted"}
    assert remote == {"status": "Rejected"}  # the session side's own answer, at answer time
    assert [r.ok for c, r in router.results if isinstance(c, StartSession)] == [False]
    by_other, by_reserved = started(csms)
    assert by_other["idTag"] == OTHER_TAG and "reservationId" not in by_other
    assert by_reserved["idTag"] == RESERVED_TAG and by_reserved["reservationId"] == 21
    assert by_reserved["connectorId"] == 2
    assert after_use == {"status": "Occupied"}  # both connectors charging
    accepted = [c.reservation_id for c, r in router.results if isinstance(c, Reserve) and r.ok]
    assert accepted == [21, 22]


async def test_expiry_frees_the_connectors_and_conditions_answer(tmp_path: Path) -> None:
    csms, clock = BenchCsms(), Clock(time.time())
    async with running_csms(csms) as port, wired(tmp_path, port, clock) as (manager, base, _):
        await wait(lambda: "site1" in csms.connected)
        answers = [
            (await csms.send("site1", "ReserveNow", reserve_any(rid)))["status"] for rid in (1, 2)
        ]
        await wait(lambda: last(csms, 1) == last(csms, 2) == "Reserved")
        clock.now_s += 700  # both expired on the session side's clock
        await manager.tick()
        await wait(lambda: last(csms, 1) == last(csms, 2) == "Available")
        assert await plug_and_tap(manager, base, "c1:1", OTHER_TAG)
        assert await plug_and_tap(manager, base, "c1:2", THIRD_TAG)
        await wait(lambda: len(started(csms)) == 2)
        for cid in CONNECTORS:
            base.set(cid, Availability.FAULTED, fault_text="contactor")
        faulted = await csms.send("site1", "ReserveNow", reserve_any(3))
        late = await csms.send("site1", "ReserveNow", reserve_any(4, in_s=-60))
    assert answers == ["Accepted", "Accepted"]
    assert faulted == {"status": "Faulted"} and late == {"status": "Rejected"}
    assert [p.get("reservationId") for p in started(csms)] == [None, None]


async def test_the_strict_peer_accepts_connector_zero_reservation_messages(
    tmp_path: Path,
) -> None:
    clock = Clock(time.time())
    async with strict_peer() as peer, wired(tmp_path, peer.port, clock) as (manager, base, _):
        for rid in (5, 6):
            reserve = Reserve("site1:0", rid, RESERVED_TAG, clock.now_s + 600)
            assert await manager.on_reservation(reserve)

        def shown(status_name: str) -> set[int]:
            return {c["params"]["connectorId"] for c in peer.calls("StatusNotification")
                    if c["params"]["status"] == status_name}  # fmt: skip

        await wait(lambda: shown("Reserved") == {1, 2})
        assert await plug_and_tap(manager, base, "c1:2", RESERVED_TAG)
        await wait(lambda: len(peer.calls("StartTransaction")) == 1)
    assert peer.invalid() == []
    assert peer.calls("StartTransaction")[0]["params"]["reservationId"] == 5


async def test_a_hidden_reservation_is_cancelled_after_a_restart(tmp_path: Path) -> None:
    """Two free connectors, one connector-0 reservation: no connector shows it, yet after a
    restart of the daemon the CSMS can still cancel it (the book is asked, not the views)."""
    csms, clock = BenchCsms(), Clock(time.time())
    async with running_csms(csms) as port:
        async with wired(tmp_path, port, clock):
            await wait(lambda: "site1" in csms.connected)
            placed = await csms.send("site1", "ReserveNow", reserve_any(31))
            await wait(lambda: last(csms, 1) == last(csms, 2) == "Available")
        async with wired(tmp_path, port, clock) as (manager, _base, _router):
            await wait(lambda: "site1" in csms.connected)
            assert manager.reservation_ids() == {31}
            cancel = await csms.send("site1", "CancelReservation", {"reservationId": 31})
            await wait(lambda: manager.reservation_ids() == frozenset())
            again = await csms.send("site1", "CancelReservation", {"reservationId": 31})
    assert placed == cancel == {"status": "Accepted"}
    assert again == {"status": "Rejected"}
