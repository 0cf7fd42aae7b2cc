"""Connector-0 reservations in the session manager: every start path, status, ends, restarts.

The rig's connectors cp1:1 and cp1:2 both belong to the uplink identity "site"."""

from __future__ import annotations

from pathlib import Path

from edge_controller.domain.commands import CancelReservation, Origin, Reserve, StartSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthPolicy, AuthStatus
from edge_controller.domain.sessions.state import Phase
from tests.unit.services.sessions.fixtures import Clock, Rig, make_rig, status
from tests.unit.services.sessions.test_reservations import starts

ACCEPT = AuthStatus.ACCEPTED
ANY = "site:0"


def reserve_any(rig: Rig, rid: int, tag: str = "AABBCCDD", for_s: float = 600.0) -> Reserve:
    return Reserve(ANY, rid, tag, rig.clock.now_s + for_s)


def shown(rig: Rig) -> dict[str, int | None]:
    held = {c: rig.manager.reserved(c) for c in ("cp1:1", "cp1:2")}
    return {c: None if r is None else r.reservation_id for c, r in held.items()}


def accept(rig: Rig, *tags: str) -> None:
    for tag in tags:
        rig.csms.answers[tag] = AuthEntry(tag, ACCEPT)


async def test_as_many_as_there_are_free_connectors(rig: Rig) -> None:
    assert await rig.manager.on_reservation(reserve_any(rig, 1))
    assert shown(rig) == {"cp1:1": None, "cp1:2": None}  # one still to spare: Available
    assert await rig.manager.on_reservation(reserve_any(rig, 2))
    assert shown(rig) == {"cp1:1": 1, "cp1:2": 2}  # every free one is needed: Reserved
    assert not await rig.manager.on_reservation(reserve_any(rig, 3))
    # The same id again replaces itself, and a specific one cannot take a needed connector.
    assert await rig.manager.on_reservation(reserve_any(rig, 2, for_s=900))
    assert not await rig.manager.on_reservation(Reserve("cp1:1", 4, "X", rig.clock.now_s + 60))


async def test_a_card_tap_is_refused_on_the_last_free_connector(rig: Rig) -> None:
    accept(rig, "11223344", "55667788", "AABBCCDD")
    assert await rig.manager.on_reservation(reserve_any(rig, 1))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert (await rig.manager.on_token(Token("11223344"), "cp1:1")).accepted  # one left free
    assert shown(rig) == {"cp1:1": None, "cp1:2": 1}
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    refused = await rig.manager.on_token(Token("55667788"), "cp1:2")
    assert not refused.accepted and refused.reason == "connector reserved"
    assert rig.manager.phase("cp1:2") is Phase.WAIT_AUTH
    assert (await rig.manager.on_token(Token("AABBCCDD"), "cp1:2")).accepted
    first, second = await starts(rig)
    assert first.reservation_id is None and second.reservation_id == 1
    assert not await rig.manager.on_reservation(CancelReservation(1))  # used up


async def test_remote_start_and_free_vend_are_refused_too(tmp_path: Path) -> None:
    vend = await make_rig(tmp_path / "edge.db", policy=AuthPolicy(free_vend_id_tag="FREE"))
    try:
        await vend.manager.on_charger_status("cp1:1", status(CpState.B))
        assert vend.manager.phase("cp1:1") is Phase.ACTIVE
        assert await vend.manager.on_reservation(reserve_any(vend, 1))
        assert not (await vend.manager.start(StartSession("cp1:2", "11223344", Origin.CSMS))).ok
        await vend.manager.on_charger_status("cp1:2", status(CpState.B))
        assert vend.manager.phase("cp1:2") is Phase.WAIT_AUTH  # the plug-in did not start
        assert (await vend.manager.start(StartSession("cp1:2", "AABBCCDD", Origin.CSMS))).ok
        assert vend.manager.phase("cp1:2") is Phase.ACTIVE
        assert [s.reservation_id for s in await starts(vend)] == [None, 1]
    finally:
        await vend.db.close()


async def test_cancel_and_expiry_free_the_connectors(rig: Rig) -> None:
    accept(rig, "11223344")
    assert await rig.manager.on_reservation(reserve_any(rig, 1, for_s=60))
    assert await rig.manager.on_reservation(reserve_any(rig, 2, for_s=600))
    assert await rig.manager.on_reservation(CancelReservation(2))
    rig.clock.now_s += 61
    await rig.manager.tick()
    assert shown(rig) == {"cp1:1": None, "cp1:2": None}
    assert not await rig.manager.on_reservation(CancelReservation(1))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    assert (await rig.manager.on_token(Token("11223344"), "cp1:1")).accepted
    assert (await rig.manager.on_token(Token("11223344"), "cp1:2")).accepted


async def test_connector_zero_reservations_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = await make_rig(tmp_path / "edge.db", clock=clock)
    assert await first.manager.on_reservation(reserve_any(first, 1, for_s=60))
    assert await first.manager.on_reservation(reserve_any(first, 2, for_s=600))
    await first.db.close()
    clock.now_s += 120  # the first one expired while the daemon was down
    second = await make_rig(tmp_path / "edge.db", clock=clock)
    try:
        await second.manager.recover()
        assert shown(second) == {"cp1:1": None, "cp1:2": None}
        assert await second.manager.on_reservation(reserve_any(second, 5))
        assert shown(second) == {"cp1:1": 2, "cp1:2": 5}  # 2 came back, 1 did not
        assert await second.manager.on_reservation(CancelReservation(2))
        assert not await second.manager.on_reservation(CancelReservation(1))
    finally:
        await second.db.close()


async def test_status_asks_which_connectors_are_idle_only_for_connector_0_ones(rig: Rig) -> None:
    # The status views ask this for each connector every tick: walking every connector each
    # time made a 1,000-connector site's views cost a million steps per tick.
    book = rig.manager.reservations
    assert book is not None
    asked: list[int] = []

    def idle() -> dict[str, bool]:
        asked.append(1)
        return {"cp1:1": True, "cp1:2": True}

    assert await rig.manager.on_reservation(Reserve("cp1:1", 7, "X", rig.clock.now_s + 60))
    assert book.shown("cp1:1", idle, rig.clock.now_s).reservation_id == 7  # type: ignore[union-attr]
    assert book.shown("cp1:2", idle, rig.clock.now_s) is None
    assert asked == []
    assert await rig.manager.on_reservation(reserve_any(rig, 1))
    held = book.shown("cp1:2", idle, rig.clock.now_s)
    assert held is not None and held.reservation_id == 1 and asked == [1]
