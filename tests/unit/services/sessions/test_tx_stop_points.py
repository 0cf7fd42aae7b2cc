"""A transaction that outlives its session (OCPP 2.0.1 E06, TxStopPoint EVConnected or
Authorized alone): the session, its energy and its bill end at the stop; the transaction goes
on, durable in ``plug_transactions``, until its stop point is lost, and ends with the
session's registers. A stop from the CSMS ends a transaction no session runs in (F03), and a
restart ends one whose connector left the config."""

from __future__ import annotations

from pathlib import Path

from edge_controller.domain.commands import ChangeSessionRules, StopReason, StopSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions import state as sm
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.events import (
    EvConnected,
    EvWaitEnded,
    IdToken,
    SessionEnded,
    SessionRegisters,
    SessionStarted,
    TokenType,
)
from edge_controller.domain.snapshot import Availability, ConnectorView
from tests.unit.services.sessions.fixtures import Clock, Rig, make_rig, status
from tests.unit.services.sessions.test_plug_transactions import _queued

CARD = "AABBCCDD"
OTHER_CARD = "11223344"


async def _rig(path: Path, clock: Clock | None = None, **rules: bool) -> Rig:
    rig = await make_rig(path, clock=clock)
    for card in (CARD, OTHER_CARD):
        rig.csms.answers[card] = AuthEntry(card, AuthStatus.ACCEPTED)
    rig.manager.change_rules(ChangeSessionRules(**rules))
    return rig


def _transaction(rig: Rig, cid: str) -> str | None:
    view = rig.manager.connector_view(ConnectorView(cid, Availability.AVAILABLE, 16.0, ""))
    return view.transaction_id


async def _charge(rig: Rig, cid: str, start_wh: int, stop_wh: int) -> None:
    """Plug in, authorise by card, charge from ``start_wh`` to ``stop_wh`` in an hour."""
    rig.meters[cid].energy_wh = start_wh
    await rig.manager.on_charger_status(cid, status(CpState.B))
    assert (await rig.manager.on_token(Token(CARD), cid)).accepted
    await rig.manager.on_charger_status(cid, status(CpState.C))
    rig.meters[cid].energy_wh = stop_wh
    rig.clock.now_s += 3600


async def test_e14_with_ev_connected_alone_the_transaction_ends_at_the_unplug(
    tmp_path: Path,
) -> None:
    """TC_E_14 (E06.FR.02) after StopAuthorized and EVConnectedPostSession: the card ends the
    session and its bill, the transaction goes on with the EV plugged in and ends when it
    leaves (EVDisconnected), carrying the session's registers; the register's drift after
    the stop is not billed, and no session starts before the unplug."""
    rig = await _rig(tmp_path / "e.db", stop_only_at_unplug=True)
    try:
        await _charge(rig, "cp1:1", 1000, 8000)
        assert (await rig.manager.on_token(Token(CARD), "cp1:1")).accepted  # the stop
        assert rig.gate.allowed("cp1:1") is False
        ((started, p0), (stopped, p1)) = await _queued(rig)
        assert isinstance(started, SessionStarted) and isinstance(stopped, SessionEnded)
        assert stopped.transaction_goes_on and stopped.reason is StopReason.LOCAL
        assert stopped.id_token == IdToken(CARD, TokenType.CARD)
        local_id = started.session_local_id
        record = await rig.store.get(local_id)
        assert record is not None and record.energy_wh == 7000  # billed at the stop
        assert _transaction(rig, "cp1:1") == str(local_id)  # the transaction still runs

        rig.meters["cp1:1"].energy_wh = 8003  # drift while it waits: nobody's energy
        rig.clock.now_s += 600
        refused = await rig.manager.on_token(Token(OTHER_CARD), "cp1:1")
        assert not refused.accepted and rig.gate.allowed("cp1:1") is False
        await rig.manager.tick()
        assert await _queued(rig) == []  # no samples: no session runs
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        ((ended, p2),) = await _queued(rig)
        assert isinstance(ended, EvWaitEnded) and ended.session_local_id == local_id
        assert ended.reason is StopReason.EV_DISCONNECTED and ended.at_s == stopped.at_s + 600
        assert ended.session == SessionRegisters(
            started.at_s, 1000, stopped.at_s, 8000, with_begin=True
        )
        assert (p0, p1, p2) == (0, 1, 2)
        assert await rig.store.plugs.open_ones() == []
        assert _transaction(rig, "cp1:1") is None
        record = await rig.store.get(local_id)
        assert record is not None and record.energy_wh == 7000
    finally:
        await rig.db.close()


async def test_e14_the_station_ends_the_transaction_with_its_session(tmp_path: Path) -> None:
    """An orderly stop (Reboot) is the station's end, not the driver's: the session's end is
    its transaction's, whatever the stop point."""
    rig = await _rig(tmp_path / "e.db", stop_only_at_unplug=True)
    try:
        await _charge(rig, "cp1:1", 0, 2000)
        await rig.manager.shutdown()
        (_, _), (ended, _) = await _queued(rig)
        assert isinstance(ended, SessionEnded) and not ended.transaction_goes_on
        assert ended.reason is StopReason.REBOOT
        assert await rig.store.plugs.open_ones() == []
    finally:
        await rig.db.close()


async def test_e15_with_authorized_alone_the_card_ends_the_transaction_after_a_limit(
    tmp_path: Path,
) -> None:
    """TC_E_15 (E06.FR.03): with Authorized alone, an energy limit ends the session (and its
    energy), not the authorisation; the driver's card ends the transaction (Local, with the
    card); another card does neither."""
    rig = await _rig(tmp_path / "e.db", stop_only_at_deauthorization=True)
    try:
        await _charge(rig, "cp1:1", 500, 3500)
        await rig.manager.stop(StopSession("cp1:1", reason=StopReason.ENERGY_LIMIT))
        (_, _), (stopped, _) = await _queued(rig)
        assert isinstance(stopped, SessionEnded) and stopped.transaction_goes_on
        assert not (await rig.manager.on_token(Token(OTHER_CARD), "cp1:1")).accepted
        assert await _queued(rig) == []
        assert (await rig.manager.on_token(Token(CARD), "cp1:1")).accepted
        ((ended, position),) = await _queued(rig)
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.LOCAL
        assert ended.id_token == IdToken(CARD, TokenType.CARD) and position == 2
        assert ended.session is not None and ended.session.stop_wh - ended.session.start_wh == 3000
        # The card stop itself ends the authorisation: session and transaction end together.
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        await _charge(rig, "cp1:2", 0, 1000)
        assert (await rig.manager.on_token(Token(CARD), "cp1:2")).accepted
        (_, _), (alone, _) = await _queued(rig)
        assert isinstance(alone, SessionEnded) and not alone.transaction_goes_on
    finally:
        await rig.db.close()


async def test_e14_a_transaction_going_on_after_its_session_survives_a_restart(
    tmp_path: Path,
) -> None:
    """Killed while the transaction went on: after the restart the EV still plugged in keeps
    it (and no session starts there); the one whose EV left meanwhile ends (EVDisconnected),
    each once, with its session's registers."""
    clock = Clock()
    rig = await _rig(tmp_path / "e.db", clock, stop_only_at_unplug=True)
    for cid, stop_wh in (("cp1:1", 4000), ("cp1:2", 6000)):
        await _charge(rig, cid, 1000, stop_wh)
        await rig.manager.stop(StopSession(cid, reason=StopReason.REMOTE))
    before = [e for e, _ in await _queued(rig)]
    await rig.db.close()  # killed: no orderly stop

    after = await _rig(tmp_path / "e.db", clock, stop_only_at_unplug=True)
    try:
        await after.manager.recover()
        await after.manager.tick()
        assert await _queued(after) == []  # nothing decided before the chargers are seen
        await after.manager.on_charger_status("cp1:1", status(CpState.B))  # still there
        await after.manager.on_charger_status("cp1:2", status(CpState.A))  # left meanwhile
        assert not (await after.manager.on_token(Token(CARD), "cp1:1")).accepted
        ((left, position),) = await _queued(after)
        assert isinstance(left, EvWaitEnded) and left.reason is StopReason.EV_DISCONNECTED
        assert left.session_local_id == before[2].session_local_id and position == 2
        assert left.session is not None and left.session.stop_wh == 6000
        await after.manager.on_charger_status("cp1:1", status(CpState.A))
        ((gone, _),) = await _queued(after)
        assert isinstance(gone, EvWaitEnded) and gone.session_local_id == before[0].session_local_id
        assert gone.session is not None and gone.session.stop_wh == 4000
        assert await after.store.plugs.open_ones() == []
    finally:
        await after.db.close()


async def test_f03_a_remote_stop_ends_a_transaction_no_session_joined(tmp_path: Path) -> None:
    """RequestStopTransaction of a plug-in's transaction (TxStartPoint EVConnected, not yet
    authorised): it ends (Remote), and a card then starts nothing before a new plug-in."""
    rig = await _rig(tmp_path / "e.db", start_at_plug=True)
    try:
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        ((plugged, _),) = await _queued(rig)
        assert isinstance(plugged, EvConnected)
        assert _transaction(rig, "cp1:1") == str(plugged.session_local_id)
        result = await rig.manager.stop(StopSession("cp1:1", reason=StopReason.REMOTE))
        assert result.ok
        ((ended, position),) = await _queued(rig)
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.REMOTE
        assert ended.session_local_id == plugged.session_local_id and position == 1
        assert ended.session is None and _transaction(rig, "cp1:1") is None
        assert rig.manager.phase("cp1:1") is sm.Phase.FINISHED
        assert not (await rig.manager.on_token(Token(CARD), "cp1:1")).accepted
        await rig.manager.tick()
        assert await _queued(rig) == [] and rig.gate.allowed("cp1:1") is not True
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))  # a new plug-in
        ((again, _),) = await _queued(rig)
        assert isinstance(again, EvConnected)
        assert again.session_local_id > plugged.session_local_id
    finally:
        await rig.db.close()


async def test_a_transaction_on_a_connector_removed_from_the_config_ends_at_start_up(
    tmp_path: Path,
) -> None:
    """The config lost the connector while its plug-in's transaction was open: the restart
    ends it (PowerLoss) for the identity its Started went to, once."""
    clock = Clock()
    rig = await _rig(tmp_path / "e.db", clock, start_at_plug=True)
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    ((plugged, _),) = await _queued(rig)
    await rig.db.close()

    after = await make_rig(tmp_path / "e.db", clock=clock, connectors=("cp1:1",))
    try:
        clock.now_s += 30
        await after.manager.recover()
        ((ended, position),) = await _queued(after)
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.POWER_LOSS
        assert ended.session_local_id == plugged.session_local_id and position == 1
        assert ended.connector_id == "cp1:2" and ended.at_s == plugged.at_s + 30
        assert await after.store.plugs.open_ones() == []
        await after.manager.recover()  # not twice
        assert await _queued(after) == []
    finally:
        await after.db.close()


_RETENTION_S = 30 * 86400.0


async def test_e14_an_ev_parked_past_the_outbox_retention_gets_its_end_numbered_on(
    tmp_path: Path,
) -> None:
    """The transaction goes on for longer than acked messages are kept: pruning leaves its
    Started and Ended in the outbox, so the end it gets at the unplug is numbered after them
    (seqNo 2), not from 0 again."""
    rig = await _rig(tmp_path / "e.db", stop_only_at_unplug=True)
    try:
        await _charge(rig, "cp1:1", 1000, 8000)
        await rig.manager.stop(StopSession("cp1:1", reason=StopReason.REMOTE))
        assert [p for _, p in await _queued(rig)] == [0, 1]
        rig.clock.now_s += 2 * _RETENTION_S
        await rig.outbox.prune(_RETENTION_S)
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        ((ended, position),) = await _queued(rig)
        assert isinstance(ended, EvWaitEnded) and position == 2
        assert ended.session is not None and ended.session.stop_wh == 8000
        rig.clock.now_s += 2 * _RETENTION_S
        assert await rig.outbox.prune(_RETENTION_S) == 3  # ended: all of it may go now
    finally:
        await rig.db.close()


async def test_a_plug_in_past_the_retention_on_a_connector_removed_still_gets_its_end(
    tmp_path: Path,
) -> None:
    """A plug-in's transaction open for longer than acked messages are kept, on a connector
    the config then lost: the restart still ends it for the identity its Started went to,
    numbered after it."""
    clock = Clock()
    rig = await _rig(tmp_path / "e.db", clock, start_at_plug=True)
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    ((plugged, _),) = await _queued(rig)
    clock.now_s += 2 * _RETENTION_S
    await rig.outbox.prune(_RETENTION_S)
    await rig.db.close()

    after = await make_rig(tmp_path / "e.db", clock=clock, connectors=("cp1:1",))
    try:
        assert await after.store.plugs.identity_of(plugged.session_local_id) == "site"
        await after.manager.recover()
        ((ended, position),) = await _queued(after)
        assert isinstance(ended, EvWaitEnded) and ended.reason is StopReason.POWER_LOSS
        assert ended.session_local_id == plugged.session_local_id and position == 1
        assert await after.store.plugs.open_ones() == []
    finally:
        await after.db.close()


async def test_the_identity_of_a_transaction_is_kept_with_it_not_only_in_the_outbox(
    tmp_path: Path,
) -> None:
    """Where an open transaction's events go is kept with it, begun at a plug-in or going
    on after its session: its end still has an identity with none of its events left in
    the outbox (acked and pruned before open transactions were kept whole)."""
    rig = await _rig(tmp_path / "e.db", start_at_plug=True, stop_only_at_unplug=True)
    try:
        await rig.manager.on_charger_status("cp1:2", status(CpState.B))
        await _charge(rig, "cp1:1", 1000, 3000)
        await rig.manager.stop(StopSession("cp1:1", reason=StopReason.REMOTE))
        queued = await _queued(rig)
        local_ids = {e.session_local_id for e, _ in queued}
        assert len(local_ids) == 2
        await rig.db.write(lambda conn: conn.execute("DELETE FROM outbox"))
        for local_id in local_ids:
            assert await rig.store.plugs.identity_of(local_id) == "site"
    finally:
        await rig.db.close()
