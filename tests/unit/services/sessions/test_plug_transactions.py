"""A transaction begun at the plug-in (OCPP 2.x TxStartPoint EVConnected): its session joins it
under the same local id once authorised; an EV that leaves unauthorised ends it without energy;
a restart neither starts it twice nor leaves it without its end. Charging only once authorised."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from edge_controller.domain.commands import ChangeSessionRules, StopReason, StopSession
from edge_controller.domain.model import ChargerStatus, CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    EvConnected,
    EvWaitEnded,
    IdToken,
    OutboxEvent,
    SessionEnded,
    SessionStarted,
    TokenType,
)
from tests.unit.services.sessions.fixtures import Clock, Rig, make_rig, status

CARD = "AABBCCDD"


async def _rig(path: Path, clock: Clock | None = None) -> Rig:
    rig = await make_rig(path, clock=clock)
    rig.csms.answers[CARD] = AuthEntry(CARD, AuthStatus.ACCEPTED)
    rig.manager.change_rules(ChangeSessionRules(start_at_plug=True))
    return rig


async def _queued(rig: Rig) -> list[tuple[OutboxEvent, int | None]]:
    """The events queued so far with their place in their transaction (seqNo), acked."""
    out = []
    while (msg := await rig.outbox.peek("site")) is not None:
        assert msg.event is not None, msg.unreadable
        out.append((msg.event, msg.session_position))
        await rig.outbox.ack(msg.seq)
    return out


async def test_the_session_joins_the_transaction_its_plug_in_started(tmp_path: Path) -> None:
    rig = await _rig(tmp_path / "e.db")
    try:
        rig.meters["cp1:1"].energy_wh = 1000
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        assert rig.gate.allowed("cp1:1") is not True  # plugged, not authorised: no energy
        ((plugged, position),) = await _queued(rig)
        assert isinstance(plugged, EvConnected) and position == 0
        assert rig.queued, "the sender was woken after the commit"
        rig.clock.now_s += 30
        rig.meters["cp1:1"].energy_wh = 1004  # the meter's own drift, before any charging
        assert (await rig.manager.on_token(Token(CARD), "cp1:1")).accepted
        assert rig.gate.allowed("cp1:1") is True
        rig.meters["cp1:1"].energy_wh = 8004
        rig.clock.now_s += 3600
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        queued = await _queued(rig)
        (started, p1), (ended, p2) = queued
        assert isinstance(started, SessionStarted) and isinstance(ended, SessionEnded)
        assert started.session_local_id == ended.session_local_id == plugged.session_local_id
        assert (p1, p2) == (1, 2)  # seqNo 0, 1, 2 of one transaction
        assert started.at_s == plugged.at_s + 30
        # The session's energy counts from its authorisation: what it charged, nothing before.
        record = await rig.store.get(started.session_local_id)
        assert record is not None
        assert (record.meter_start_wh, record.meter_stop_wh, record.energy_wh) == (1004, 8004, 7000)
        assert ended.start_register_wh == 1004 and ended.stop_register_wh == 8004
        # The next plug-in is a new transaction, under a new id.
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        ((again, _),) = await _queued(rig)
        assert isinstance(again, EvConnected)
        assert again.session_local_id > plugged.session_local_id
    finally:
        await rig.db.close()


async def test_an_ev_leaving_unauthorised_ends_its_transaction_without_a_session(
    tmp_path: Path,
) -> None:
    rig = await _rig(tmp_path / "e.db")
    try:
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        rig.clock.now_s += 20
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        (plugged, _), (left, position) = await _queued(rig)
        assert isinstance(plugged, EvConnected) and isinstance(left, EvWaitEnded)
        assert left.session_local_id == plugged.session_local_id and position == 1
        assert left.reason is StopReason.EV_DISCONNECTED and left.at_s == plugged.at_s + 20
        assert await rig.store.get(plugged.session_local_id) is None  # nothing billed
        assert rig.gate.allowed("cp1:1") is not True
        # A session after it takes an id of its own (the sessions' numbering skips the plug's).
        await rig.manager.on_charger_status("cp1:2", status(CpState.B))
        await rig.manager.on_token(Token(CARD), "cp1:2")
        ids = [e.session_local_id for e, _ in await _queued(rig)]
        assert len(set(ids)) == 1 and ids[0] > plugged.session_local_id
    finally:
        await rig.db.close()


async def test_without_the_rule_a_plug_in_queues_nothing(tmp_path: Path) -> None:
    rig = await _rig(tmp_path / "e.db")
    try:
        rig.manager.change_rules(ChangeSessionRules(start_at_plug=False))
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        assert await _queued(rig) == []
        await rig.manager.on_token(Token(CARD), "cp1:1")
        ((started, position),) = await _queued(rig)
        assert isinstance(started, SessionStarted) and position == 0
    finally:
        await rig.db.close()


async def test_a_card_before_the_plug_starts_the_session_with_the_plug_in(tmp_path: Path) -> None:
    """Authorised first: plugging in starts both at once, one Started (the session's)."""
    rig = await _rig(tmp_path / "e.db")
    try:
        await rig.manager.on_token(Token(CARD), "cp1:1")
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        ((started, position),) = await _queued(rig)
        assert isinstance(started, SessionStarted) and position == 0
    finally:
        await rig.db.close()


async def test_a_restart_goes_on_with_the_transaction_of_an_ev_still_plugged(
    tmp_path: Path,
) -> None:
    clock = Clock()
    rig = await _rig(tmp_path / "e.db", clock)
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    plugs = [e for e, _ in await _queued(rig)]
    await rig.db.close()  # killed: no orderly stop

    after = await _rig(tmp_path / "e.db", clock)
    try:
        await after.manager.recover()
        clock.now_s += 5
        await after.manager.tick()  # before the chargers are seen: nothing decided yet
        assert await _queued(after) == []
        await after.manager.on_charger_status("cp1:1", status(CpState.B))  # still there
        await after.manager.on_charger_status("cp1:2", status(CpState.A))  # left meanwhile
        await after.manager.on_token(Token(CARD), "cp1:1")
        (left, p1), (started, p2) = await _queued(after)
        assert isinstance(left, EvWaitEnded) and left.reason is StopReason.EV_DISCONNECTED
        assert left.session_local_id == plugs[1].session_local_id and p1 == 1
        assert isinstance(started, SessionStarted) and p2 == 1
        assert started.session_local_id == plugs[0].session_local_id
    finally:
        await after.db.close()


async def test_an_orderly_stop_ends_the_transaction_of_an_unauthorised_ev(tmp_path: Path) -> None:
    rig = await _rig(tmp_path / "e.db")
    try:
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await rig.manager.shutdown()
        (plugged, _), (ended, position) = await _queued(rig)
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.REBOOT
        assert ended.session_local_id == plugged.session_local_id and position == 1
        assert await rig.store.plugs.open_ones() == []
    finally:
        await rig.db.close()


async def _authorized_first_rig(path: Path, clock: Clock | None = None) -> Rig:
    rig = await _rig(path, clock)
    rig.manager.change_rules(ChangeSessionRules(start_at_plug=False, start_at_authorization=True))
    return rig


async def test_an_authorisation_before_the_plug_in_starts_the_transaction(tmp_path: Path) -> None:
    """TxStartPoint Authorized (2.0.1 E03): the transaction at the card, the session joins it
    at the plug-in; energy and charging only from there."""
    rig = await _authorized_first_rig(tmp_path / "e.db")
    try:
        assert (await rig.manager.on_token(Token(CARD), "cp1:1")).accepted
        ((first, position),) = await _queued(rig)
        assert isinstance(first, AuthorizedFirst) and position == 0
        assert first.id_token == IdToken(CARD, TokenType.CARD)
        assert rig.gate.allowed("cp1:1") is not True  # no EV yet
        rig.clock.now_s += 20
        rig.meters["cp1:1"].energy_wh = 2000
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        assert rig.gate.allowed("cp1:1") is True
        ((started, p1),) = await _queued(rig)
        assert isinstance(started, SessionStarted) and p1 == 1 and started.plugged_in_last
        assert started.session_local_id == first.session_local_id
        assert started.start_register_wh == 2000 and started.at_s == first.at_s + 20
        # A plug-in starts nothing of its own here (EVConnected is not a start point).
        await rig.manager.on_charger_status("cp1:2", status(CpState.B))
        assert await _queued(rig) == []
    finally:
        await rig.db.close()


async def test_an_authorisation_whose_ev_never_comes_ends_at_the_timeout(tmp_path: Path) -> None:
    rig = await _authorized_first_rig(tmp_path / "e.db")
    try:
        rig.manager.change_rules(ChangeSessionRules(plug_timeout_s=30.0))  # EVConnectionTimeOut
        await rig.manager.on_token(Token(CARD), "cp1:1")
        rig.clock.now_s += 29
        await rig.manager.tick()
        rig.clock.now_s += 2
        await rig.manager.tick()
        (first, _), (ended, position) = await _queued(rig)
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.TIMEOUT
        assert ended.session_local_id == first.session_local_id and position == 1
        assert ended.at_s == first.at_s + 31
        assert await rig.store.get(first.session_local_id) is None  # no session, no energy
        # Stopped before its EV came: ended with the stop's reason.
        await rig.manager.on_token(Token(CARD), "cp1:2")
        await rig.manager.stop(StopSession("cp1:2", reason=StopReason.REMOTE))
        (_, _), (stopped, _) = await _queued(rig)
        assert isinstance(stopped, EvWaitEnded) and stopped.reason is StopReason.REMOTE
    finally:
        await rig.db.close()


async def test_with_both_start_points_the_first_to_come_starts_it(tmp_path: Path) -> None:
    rig = await _rig(tmp_path / "e.db")
    try:
        rig.manager.change_rules(ChangeSessionRules(start_at_authorization=True))
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await rig.manager.on_token(Token(CARD), "cp1:2")
        kinds = [type(e) for e, _ in await _queued(rig)]
        assert kinds == [EvConnected, AuthorizedFirst]
    finally:
        await rig.db.close()


async def test_a_restart_ends_a_transaction_begun_at_an_authorisation(tmp_path: Path) -> None:
    """The authorisation waiting for its EV was the process's: lost with it (PowerLoss)."""
    clock = Clock()
    rig = await _authorized_first_rig(tmp_path / "e.db", clock)
    await rig.manager.on_token(Token(CARD), "cp1:1")
    ((first, _),) = await _queued(rig)
    await rig.db.close()

    after = await _authorized_first_rig(tmp_path / "e.db", clock)
    try:
        await after.manager.recover()
        await after.manager.on_charger_status("cp1:1", status(CpState.B))
        ((ended, position),) = await _queued(after)
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.POWER_LOSS
        assert ended.session_local_id == first.session_local_id and position == 1
        assert after.gate.allowed("cp1:1") is not True
    finally:
        await after.db.close()


async def test_the_energy_transfer_stop_point_ends_a_session_whose_ev_stops_drawing(
    tmp_path: Path,
) -> None:
    """TxStopPoint EnergyTransfer: the session ends when its EV stops drawing (C to B) after
    it drew; not while it has not drawn yet, and not without the rule."""
    rig = await _rig(tmp_path / "e.db")
    try:
        rig.manager.change_rules(ChangeSessionRules(start_at_plug=False, stop_at_energy_end=True))
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await rig.manager.on_token(Token(CARD), "cp1:1")
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))  # not drawing yet
        assert rig.manager.open_session("cp1:1") is not None
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        rig.meters["cp1:1"].energy_wh = 4000
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))  # the EV is full
        assert rig.manager.open_session("cp1:1") is None
        assert rig.gate.allowed("cp1:1") is False
        ended = [e for e, _ in await _queued(rig) if isinstance(e, SessionEnded)]
        assert [(e.reason, e.stop_register_wh) for e in ended] == [(StopReason.STOPPED_BY_EV, 4000)]

        rig.manager.change_rules(ChangeSessionRules(stop_at_energy_end=False))
        await rig.manager.on_charger_status("cp1:2", status(CpState.B))
        await rig.manager.on_token(Token(CARD), "cp1:2")
        await rig.manager.on_charger_status("cp1:2", status(CpState.C))
        await rig.manager.on_charger_status("cp1:2", status(CpState.B))  # a pause: goes on
        assert rig.manager.open_session("cp1:2") is not None
    finally:
        await rig.db.close()


async def test_a_pause_the_site_makes_is_not_the_end_of_the_energy_transfer(tmp_path: Path) -> None:
    """TxStopPoint EnergyTransfer ends a session when its EV stops drawing while it may draw:
    an EV back in B because the site offered it less than 6 A or disabled the charger (a turn
    of paused sessions, the grid limit) is not at its end; resumed, it goes on."""
    rig = await _rig(tmp_path / "e.db")
    try:
        rig.manager.change_rules(ChangeSessionRules(start_at_plug=False, stop_at_energy_end=True))
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await rig.manager.on_token(Token(CARD), "cp1:1")
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        paused = ChargerStatus(CpState.B, enabled=True, offered_current_a=0.0)
        await rig.manager.on_charger_status("cp1:1", paused)
        await rig.manager.on_charger_status("cp1:1", replace(paused, enabled=False))
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))  # offered again
        assert rig.manager.open_session("cp1:1") is not None
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))  # now the EV's end
        assert rig.manager.open_session("cp1:1") is None
        ended = [e for e, _ in await _queued(rig) if isinstance(e, SessionEnded)]
        assert [e.reason for e in ended] == [StopReason.STOPPED_BY_EV]
    finally:
        await rig.db.close()


async def test_a_refused_authorisation_waiting_for_its_ev_lets_no_ev_charge(tmp_path: Path) -> None:
    """The CSMS answers the Started of an authorisation before the plug-in with Invalid: the
    authorisation is dropped, its transaction ends, and the EV that then plugs in waits for a
    new one instead of charging on the refused token."""
    rig = await _authorized_first_rig(tmp_path / "e.db")
    applying = asyncio.create_task(rig.manager._apply_refusals())
    try:
        await rig.manager.on_token(Token(CARD), "cp1:1")
        ((first, _),) = await _queued(rig)
        rig.manager.transaction_confirmed(first.session_local_id, 7, "Invalid")
        queued: list[tuple[OutboxEvent, int | None]] = []
        async with asyncio.timeout(5.0):  # the refusal is applied by the manager's own task
            while not queued:
                await asyncio.sleep(0.01)
                queued = await _queued(rig)
        ((ended, position),) = queued
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.DEAUTHORIZED
        assert ended.session_local_id == first.session_local_id and position == 1
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        assert rig.gate.allowed("cp1:1") is not True
        assert await rig.store.get(first.session_local_id) is None  # no session, nothing billed
    finally:
        applying.cancel()
        await rig.db.close()
