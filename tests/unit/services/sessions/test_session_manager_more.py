from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge_controller.domain.commands import Origin, StartSession, StopReason, StopSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.state import Phase
from edge_controller.services.housekeeping import StorageHousekeeping
from edge_controller.services.readers import PendingTaps, ReaderRoute, ReaderService
from edge_controller.storage.auth_store import AuthStore
from tests.outbox_events import sampled
from tests.unit.services.sessions.fixtures import Clock, Rig, make_rig, status


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        (Origin.CSMS, StopReason.REMOTE),
        (Origin.CSMS, StopReason.HARD_RESET),
        (Origin.CSMS, StopReason.SOFT_RESET),
        (Origin.MQTT, StopReason.LOCAL),
        # the words of an origin no longer choose the reason: only the typed reason does
        (Origin.OPERATOR, StopReason.EMERGENCY_STOP),
    ],
)
async def test_a_stop_ends_the_session_with_its_own_reason(
    rig: Rig, origin: Origin, reason: StopReason
) -> None:
    assert (await rig.manager.start(StartSession("cp1:1", "X", Origin.CSMS))).ok
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    assert (await rig.manager.stop(StopSession("cp1:1", origin, reason))).ok
    (record,) = await rig.store.recent()
    assert record.stop_reason == reason.value


async def test_commands_report_whether_they_apply(rig: Rig) -> None:
    assert not (await rig.manager.stop(StopSession("cp1:1", Origin.CSMS))).ok
    assert not (await rig.manager.start(StartSession("nope:1", "X"))).ok
    assert (await rig.manager.start(StartSession("cp1:1", "X", Origin.CSMS))).ok
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    assert not (await rig.manager.start(StartSession("cp1:1", "Y", Origin.CSMS))).ok
    stop = StopSession("cp1:1", Origin.CSMS, StopReason.HARD_RESET)
    assert (await rig.manager.stop(stop)).ok
    (record,) = await rig.store.recent()
    assert record.stop_reason == "HardReset"


async def test_shared_reader_card_waits_for_the_next_plug(rig: Rig) -> None:
    rig.csms.answers["AA00BB11"] = AuthEntry("AA00BB11", AuthStatus.ACCEPTED)
    decision = await rig.manager.on_token(Token("AA00BB11"))
    assert decision.accepted
    rig.clock.now_s += 20
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    record = rig.manager.open_session("cp1:2")
    assert record is not None and record.id_tag == "AA00BB11"
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH  # used once only


async def test_shared_reader_card_expires(rig: Rig) -> None:
    rig.csms.answers["AA00BB11"] = AuthEntry("AA00BB11", AuthStatus.ACCEPTED)
    await rig.manager.on_token(Token("AA00BB11"))
    rig.clock.now_s += 61
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    assert rig.manager.phase("cp1:2") is Phase.WAIT_AUTH


async def test_shared_reader_same_card_finds_its_session(rig: Rig) -> None:
    rig.csms.answers["AA00BB11"] = AuthEntry("AA00BB11", AuthStatus.ACCEPTED)
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    await rig.manager.on_token(Token("AA00BB11"))
    assert rig.manager.phase("cp1:2") is Phase.ACTIVE
    await rig.manager.on_token(Token("AA00BB11"))
    assert rig.manager.phase("cp1:2") is Phase.FINISHED


async def test_sender_is_woken_only_after_commits(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "X"))
    assert rig.queued == []
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    assert len(rig.queued) == 1 and await rig.outbox.backlog() == 1


async def test_online_answers_are_cached_for_offline_use(rig: Rig) -> None:
    rig.csms.answers["CC00DD11"] = AuthEntry("CC00DD11", AuthStatus.ACCEPTED)
    await rig.manager.on_token(Token("CC00DD11"), "cp1:1")
    rig.csms.online = False
    await rig.manager.on_token(
        Token("CC00DD11"), "cp1:1"
    )  # presented again while waiting for the plug
    decision = await rig.manager.on_token(Token("CC00DD11"), "cp1:2")
    assert decision.accepted and "cache" in decision.reason
    assert rig.csms.asked == ["CC00DD11"]  # pre-authorized from the cache, no second ask


async def test_random_uid_is_asked_every_time(rig: Rig) -> None:
    rig.csms.answers["08AABBCC"] = AuthEntry("08AABBCC", AuthStatus.ACCEPTED)
    for cid in ("cp1:1", "cp1:2"):
        await rig.manager.on_token(Token("08AABBCC", random_uid=True), cid)
    assert rig.csms.asked == ["08AABBCC", "08AABBCC"]
    assert await AuthStore(rig.db).cached("08AABBCC") is None


async def test_stop_that_cannot_be_recorded_is_retried(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path / "e.db")
    try:
        await rig.manager.start(StartSession("cp1:1", "X"))
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        _block_stops(rig.db.path, block=True)
        rig.meters["cp1:1"].energy_wh = 1500
        stop_at_s = rig.clock.now_s = rig.clock.now_s + 100
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        assert rig.gate.allowed("cp1:1") is False
        assert (await rig.store.recent())[0].open
        _block_stops(rig.db.path, block=False)
        rig.clock.now_s += 30
        marks = rig.manager.watch_shown()
        await rig.manager.tick()
        # What the connector shows is joined again (a transaction going on after the session).
        assert "cp1:1" in marks.take()[0]
        (record,) = await rig.store.recent()
        assert record.stop_at_s == stop_at_s and record.meter_stop_wh == 1500
        assert record.stop_reason == "EVDisconnected"
    finally:
        await rig.db.close()


def _block_stops(path: Path, *, block: bool) -> None:
    """Make the database refuse session stops, as a full or failing disk would."""
    conn = sqlite3.connect(path)
    try:
        if block:
            conn.execute(
                "CREATE TRIGGER refuse_stop BEFORE UPDATE OF stop_at_s ON sessions"
                " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        else:
            conn.execute("DROP TRIGGER refuse_stop")
        conn.commit()
    finally:
        conn.close()


async def test_housekeeping_prunes_old_acks_and_expired_cache(tmp_path: Path) -> None:
    clock = Clock()
    rig = await make_rig(tmp_path / "e.db", clock=clock)
    try:
        seq = await rig.outbox.append("site", sampled(None, 0))
        await rig.outbox.ack(seq)
        auth = AuthStore(rig.db)
        await auth.cache_put(AuthEntry("AA", AuthStatus.ACCEPTED, clock.now_s + 10), clock.now_s)
        clock.now_s += 7200
        keeper = StorageHousekeeping(rig.outbox, auth, retention_s=3600, clock=clock)
        result = await keeper.run_once()
        assert result.pruned_messages == 1 and result.expired_cache_entries == 1
        assert result.outbox.pending == 0 and not result.outbox.near_capacity
    finally:
        await rig.db.close()


async def test_shared_reader_service_routes_through_the_manager(tmp_path: Path) -> None:
    # As in the daemon: the reader and the session side share the taps channel.
    clock = Clock()
    taps = PendingTaps({"r1": ReaderRoute(("cp1:1", "cp1:2"), plug_timeout_s=60.0)}, clock)
    rig = await make_rig(tmp_path / "shared.db", clock=clock, taps=taps)
    try:
        await _shared_reader_routes_through_the_manager(rig, taps)
    finally:
        await rig.db.close()


async def _shared_reader_routes_through_the_manager(rig: Rig, taps: PendingTaps) -> None:
    readers = ReaderService([], taps, rig.manager.on_token, activity=rig.manager.activity)
    for tag in ("AA000001", "BB000002"):
        rig.csms.answers[tag] = AuthEntry(tag, AuthStatus.ACCEPTED)
    await readers.handle(Token("AA000001", reader_id="r1"))  # nobody plugged in yet
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    first = rig.manager.open_session("cp1:2")
    assert first is not None and first.id_tag == "AA000001"
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))  # plugged first, then tap
    await readers.handle(Token("BB000002", reader_id="r1"))
    second = rig.manager.open_session("cp1:1")
    assert second is not None and second.id_tag == "BB000002"
    await readers.handle(Token("AA000001", reader_id="r1"))  # same card again: stop its session
    assert rig.manager.open_session("cp1:2") is None
