"""Reservations in the session manager: who may start, when they end, and restarts."""

from __future__ import annotations

from pathlib import Path

from edge_controller.domain.commands import CancelReservation, Origin, Reserve, StartSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.events import SessionStarted
from edge_controller.domain.sessions.state import Phase
from edge_controller.storage.auth_store import AuthStore
from tests.unit.services.sessions.fixtures import Clock, Rig, make_rig, status

ACCEPT = AuthStatus.ACCEPTED


def reserve(rig: Rig, *, rid: int = 7, cid: str = "cp1:1", tag: str = "AABBCCDD",
            parent: str | None = None, for_s: float = 600.0) -> Reserve:  # fmt: skip
    return Reserve(cid, rid, tag, rig.clock.now_s + for_s, parent)


async def starts(rig: Rig) -> list[SessionStarted]:
    out = []
    while (msg := await rig.outbox.peek("site")) is not None:
        if isinstance(msg.event, SessionStarted):
            out.append(msg.event)
        await rig.outbox.ack(msg.seq)
    return out


async def test_the_reserved_tag_starts_and_uses_up_the_reservation(rig: Rig) -> None:
    rig.csms.answers["AABBCCDD"] = AuthEntry("AABBCCDD", ACCEPT)
    assert await rig.manager.on_reservation(reserve(rig))
    assert rig.manager.reserved("cp1:1") is not None
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    decision = await rig.manager.on_token(Token("AABBCCDD"), "cp1:1")
    assert decision.accepted and rig.manager.phase("cp1:1") is Phase.ACTIVE
    assert rig.manager.reserved("cp1:1") is None
    (start,) = await starts(rig)
    assert start.reservation_id == 7 and start.id_token.value == "AABBCCDD"


async def test_another_tag_is_refused_on_a_reserved_connector(rig: Rig) -> None:
    rig.csms.answers["11223344"] = AuthEntry("11223344", ACCEPT)
    assert await rig.manager.on_reservation(reserve(rig))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    decision = await rig.manager.on_token(Token("11223344"), "cp1:1")
    assert not decision.accepted and decision.reason == "connector reserved"
    assert not (await rig.manager.start(StartSession("cp1:1", "11223344", Origin.CSMS))).ok
    assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH
    assert rig.manager.reserved("cp1:1") is not None
    # The other connector is not affected.
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    assert (await rig.manager.on_token(Token("11223344"), "cp1:2")).accepted
    (start,) = await starts(rig)
    assert start.reservation_id is None


async def test_a_tag_of_the_same_group_may_start(rig: Rig) -> None:
    rig.csms.answers["11223344"] = AuthEntry("11223344", ACCEPT, parent_id_tag="FLEET")
    assert await rig.manager.on_reservation(reserve(rig, parent="FLEET"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert (await rig.manager.on_token(Token("11223344"), "cp1:1")).accepted
    assert rig.manager.phase("cp1:1") is Phase.ACTIVE


async def test_a_remote_start_finds_the_group_in_the_local_list(rig: Rig) -> None:
    await AuthStore(rig.db).replace_local_list(1, [AuthEntry("55667788", ACCEPT, None, "FLEET")])
    assert await rig.manager.on_reservation(reserve(rig, parent="FLEET"))
    assert (await rig.manager.start(StartSession("cp1:1", "55667788", Origin.CSMS))).ok
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert rig.manager.phase("cp1:1") is Phase.ACTIVE
    (start,) = await starts(rig)
    assert start.reservation_id == 7


async def test_expiry_and_cancel_free_the_connector(rig: Rig) -> None:
    assert await rig.manager.on_reservation(reserve(rig, rid=1, for_s=60))
    assert await rig.manager.on_reservation(reserve(rig, rid=2, cid="cp1:2"))
    rig.clock.now_s += 61
    await rig.manager.tick()
    assert rig.manager.reserved("cp1:1") is None
    assert not await rig.manager.on_reservation(CancelReservation(1))
    assert await rig.manager.on_reservation(CancelReservation(2))
    assert rig.manager.reserved("cp1:2") is None


async def test_busy_or_already_reserved_connectors_are_refused(rig: Rig) -> None:
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert not await rig.manager.on_reservation(reserve(rig, rid=1))
    assert await rig.manager.on_reservation(reserve(rig, rid=2, cid="cp1:2"))
    assert not await rig.manager.on_reservation(reserve(rig, rid=3, cid="cp1:2"))
    assert not await rig.manager.on_reservation(reserve(rig, rid=4, cid="cp9:1"))
    # The same id again replaces (here: a new expiry).
    assert await rig.manager.on_reservation(reserve(rig, rid=2, cid="cp1:2", for_s=900))
    held = rig.manager.reserved("cp1:2")
    assert held is not None and held.expiry_at_s == rig.clock.now_s + 900


async def test_reservations_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = await make_rig(tmp_path / "edge.db", clock=clock)
    assert await first.manager.on_reservation(reserve(first, rid=1, for_s=60))
    assert await first.manager.on_reservation(reserve(first, rid=2, cid="cp1:2", for_s=600))
    await first.db.close()
    clock.now_s += 120  # the first one expired while the daemon was down
    second = await make_rig(tmp_path / "edge.db", clock=clock)
    try:
        await second.manager.recover()
        assert second.manager.reserved("cp1:1") is None
        held = second.manager.reserved("cp1:2")
        assert held is not None and held.reservation_id == 2 and held.id_tag == "AABBCCDD"
    finally:
        await second.db.close()


async def test_a_shared_reader_tap_goes_to_the_connector_reserved_for_the_card(rig: Rig) -> None:
    rig.csms.answers["AABBCCDD"] = AuthEntry("AABBCCDD", ACCEPT)
    assert await rig.manager.on_reservation(reserve(rig, cid="cp1:2"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    assert (await rig.manager.on_token(Token("AABBCCDD"))).accepted  # no connector named
    assert rig.manager.phase("cp1:2") is Phase.ACTIVE
    assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH
