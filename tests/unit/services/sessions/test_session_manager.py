from __future__ import annotations

from pathlib import Path

from edge_controller.domain.commands import Origin, StartSession, StopReason, StopSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthPolicy, AuthStatus
from edge_controller.domain.sessions.events import (
    IdToken,
    MeterSampled,
    OutboxEvent,
    SessionEnded,
    SessionStarted,
    TokenType,
)
from edge_controller.domain.sessions.state import Phase
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, Csms, Rig, make_rig, status

ACCEPT = AuthStatus.ACCEPTED


async def drain(rig: Rig, identity: str = "site") -> list[OutboxEvent]:
    out: list[OutboxEvent] = []
    while (msg := await rig.outbox.peek(identity)) is not None:
        assert msg.event is not None, msg.unreadable
        out.append(msg.event)
        await rig.outbox.ack(msg.seq)
    return out


async def test_plug_then_card_starts_and_unplug_stops(rig: Rig) -> None:
    rig.csms.answers["AABBCCDD"] = AuthEntry("AABBCCDD", ACCEPT)
    events = rig.manager.events.subscribe()
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH
    decision = await rig.manager.on_token(Token("AABBCCDD"), "cp1:1")
    assert decision.accepted
    assert rig.manager.phase("cp1:1") is Phase.ACTIVE and rig.gate.allowed("cp1:1") is True
    rig.meters["cp1:1"].energy_wh = 3500.4
    rig.clock.now_s += 600
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    assert rig.gate.allowed("cp1:1") is False
    (record,) = await rig.store.recent()
    assert record.meter_start_wh == 1000 and record.meter_stop_wh == 3500
    assert record.stop_reason == "EVDisconnected"
    assert [e.kind for e in (events.get_nowait(), events.get_nowait())] == ["started", "stopped"]
    start, stop = await drain(rig)
    assert isinstance(start, SessionStarted) and start.start_register_wh == 1000
    assert isinstance(stop, SessionEnded) and stop.stop_register_wh == 3500
    assert stop.reason is StopReason.EV_DISCONNECTED and stop.at_s == rig.clock.now_s


async def test_card_then_plug_starts_within_timeout(rig: Rig) -> None:
    rig.csms.answers["11223344"] = AuthEntry("11223344", ACCEPT)
    await rig.manager.on_token(Token("11223344"), "cp1:2")
    assert rig.manager.phase("cp1:2") is Phase.WAIT_PLUG
    rig.clock.now_s += 30
    await rig.manager.on_charger_status("cp1:2", status(CpState.C))
    assert rig.manager.phase("cp1:2") is Phase.ACTIVE


async def test_card_then_plug_too_late_does_not_start(rig: Rig) -> None:
    rig.csms.answers["11223344"] = AuthEntry("11223344", ACCEPT)
    await rig.manager.on_token(Token("11223344"), "cp1:2")
    rig.clock.now_s += 61
    await rig.manager.tick()
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    assert rig.manager.phase("cp1:2") is Phase.WAIT_AUTH
    assert await rig.store.recent() == []


async def test_same_card_stops_other_card_does_not(rig: Rig) -> None:
    for tag in ("AAAA0001", "BBBB0002"):
        rig.csms.answers[tag] = AuthEntry(tag, ACCEPT)
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    await rig.manager.on_token(Token("AAAA0001"), "cp1:1")
    refused = await rig.manager.on_token(Token("BBBB0002"), "cp1:1")
    assert not refused.accepted and rig.manager.phase("cp1:1") is Phase.ACTIVE
    await rig.manager.on_token(Token("aaaa0001"), "cp1:1")
    assert rig.manager.phase("cp1:1") is Phase.FINISHED
    (record,) = await rig.store.recent()
    assert record.stop_reason == "Local" and record.stop_id_tag == "aaaa0001"


async def test_group_member_stops_session(rig: Rig) -> None:
    rig.csms.answers["AAAA0001"] = AuthEntry("AAAA0001", ACCEPT, parent_id_tag="FLEET")
    rig.csms.answers["BBBB0002"] = AuthEntry("BBBB0002", ACCEPT, parent_id_tag="FLEET")
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    await rig.manager.on_token(Token("AAAA0001"), "cp1:1")
    decision = await rig.manager.on_token(Token("BBBB0002"), "cp1:1")
    assert decision.accepted and rig.manager.phase("cp1:1") is Phase.FINISHED


async def test_remote_start_and_stop(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "REMOTE1", Origin.CSMS))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert rig.manager.phase("cp1:1") is Phase.ACTIVE
    await rig.manager.stop(StopSession("cp1:1", Origin.CSMS, StopReason.REMOTE))
    (record,) = await rig.store.recent()
    assert record.stop_reason == "Remote" and record.source == "remote"


async def test_a_key_code_from_the_csms_is_kept_as_the_start_token_type(rig: Rig) -> None:
    """A remote start whose token the CSMS gave as a KeyCode starts with a KeyCode token
    (authorised first: ``test_start_rule``)."""
    await rig.manager.start(StartSession("cp1:1", "4711", Origin.CSMS, remote_start_id=7,
                                         key_code=True))  # fmt: skip
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    starts = {e.connector_id: e for e in await drain(rig) if isinstance(e, SessionStarted)}
    kinds = {cid: (e.id_token.value, e.id_token.type) for cid, e in starts.items()}
    assert kinds == {"cp1:1": ("4711", TokenType.KEY_CODE)}
    assert starts["cp1:1"].remote_start_id == 7


async def test_a_central_token_stays_central(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "REMOTE1", Origin.CSMS))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    (start,) = [e for e in await drain(rig) if isinstance(e, SessionStarted)]
    assert start.id_token == IdToken("REMOTE1", TokenType.CENTRAL)


async def test_fault_stops_with_other(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    await rig.manager.on_charger_status("cp1:1", status(CpState.F, "RCD tripped"))
    (record,) = await rig.store.recent()
    assert record.stop_reason == "Other" and rig.gate.allowed("cp1:1") is False


async def test_samples_are_recorded_and_queued(rig: Rig) -> None:
    rig.clock.now_s = 1_700_000_100.0
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    for step in range(1, 4):
        rig.clock.now_s += 60
        rig.meters["cp1:1"].energy_wh = 1000 + step * 100
        await rig.manager.tick()
    record = rig.manager.open_session("cp1:1")
    assert record is not None
    values = await rig.store.meter_values(record.local_id)
    assert [v.energy_wh for v in values] == [1000, 1100, 1200, 1300]
    start, *samples = await drain(rig)
    assert isinstance(start, SessionStarted)
    assert [(s.at_s, s.readings[0].value) for s in samples if isinstance(s, MeterSampled)] == [
        (1_700_000_100.0 + 60 * step, 1000 + step * 100) for step in range(1, 4)
    ]


async def test_meter_going_backwards_never_lowers_the_record(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    rig.meters["cp1:1"].energy_wh = 900
    await rig.manager.stop(StopSession("cp1:1"))
    (record,) = await rig.store.recent()
    assert record.meter_stop_wh == 1000


async def test_meter_unavailable_at_stop_uses_last_sample(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    rig.meters["cp1:1"].energy_wh = 1800
    rig.clock.now_s += 61
    await rig.manager.tick()
    rig.meters["cp1:1"].failing = True
    await rig.manager.stop(StopSession("cp1:1"))
    (record,) = await rig.store.recent()
    assert record.meter_stop_wh == 1800


async def test_no_meter_value_means_no_session(rig: Rig) -> None:
    rig.meters["cp1:1"].failing = True
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH
    assert rig.gate.allowed("cp1:1") is False
    assert await rig.store.recent() == []


async def test_offline_unknown_id_with_energy_cap(tmp_path: Path) -> None:
    policy = AuthPolicy(allow_unknown_offline=True, unknown_offline_energy_cap_wh=500)
    rig = await make_rig(tmp_path / "e.db", policy=policy, csms=Csms(online=False))
    try:
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        decision = await rig.manager.on_token(Token("DEADBEEF"), "cp1:1")
        assert decision.accepted and decision.offline
        rig.meters["cp1:1"].energy_wh = 1600
        rig.clock.now_s += 61
        await rig.manager.tick()
        (record,) = await rig.store.recent()
        assert record.authorized_offline and record.stop_reason == "Other"
    finally:
        await rig.db.close()


async def test_late_invalid_answer_deauthorizes(tmp_path: Path) -> None:
    policy = AuthPolicy(allow_unknown_offline=True)
    rig = await make_rig(tmp_path / "e.db", policy=policy, csms=Csms(online=False))
    try:
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await rig.manager.on_token(Token("DEADBEEF"), "cp1:1")
        assert rig.manager.phase("cp1:1") is Phase.ACTIVE
        await rig.manager.on_remote_auth_result(
            "DEADBEEF", AuthEntry("DEADBEEF", AuthStatus.BLOCKED)
        )
        (record,) = await rig.store.recent()
        assert record.stop_reason == "DeAuthorized"
    finally:
        await rig.db.close()


async def test_free_vend_starts_on_plug(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path / "e.db", policy=AuthPolicy(free_vend_id_tag="FREE"))
    try:
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        record = rig.manager.open_session("cp1:1")
        assert record is not None and record.id_tag == "FREE"
        assert rig.csms.asked == []
    finally:
        await rig.db.close()


async def test_crash_recovery_resumes_or_closes_with_power_loss(tmp_path: Path) -> None:
    path, clock = tmp_path / "e.db", Clock()
    meters = {"cp1:1": CounterMeter(), "cp1:2": CounterMeter(2000)}
    first = await make_rig(path, clock=clock, meters=meters)
    for cid in ("cp1:1", "cp1:2"):
        await first.manager.start(StartSession(cid, "LOCAL1"))
        await first.manager.on_charger_status(cid, status(CpState.C))
    meters["cp1:2"].energy_wh = 2400
    clock.now_s += 61
    await first.manager.tick()
    await first.db.close()  # the process dies here: no stop recorded

    meters["cp1:2"].energy_wh = 2900  # energy the daemon never saw
    second = await make_rig(path, clock=clock, meters=meters)
    try:
        assert len(await second.manager.recover()) == 2
        await second.manager.on_charger_status("cp1:1", status(CpState.C))
        await second.manager.on_charger_status("cp1:2", status(CpState.A))
        assert second.manager.phase("cp1:1") is Phase.ACTIVE
        assert second.gate.allowed("cp1:1") is True
        closed = [r for r in await second.store.recent() if not r.open]
        assert len(closed) == 1 and closed[0].stop_reason == "PowerLoss"
        assert closed[0].meter_stop_wh == 2400
        assert await second.manager.recover() == [second.manager.open_session("cp1:1")]
    finally:
        await second.db.close()


async def test_shutdown_closes_with_reboot(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    await rig.manager.shutdown()
    (record,) = await rig.store.recent()
    assert record.stop_reason == "Reboot"


async def test_meter_reset_between_sessions_is_taken_as_is(rig: Rig) -> None:
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    rig.meters["cp1:1"].energy_wh = 5000
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    rig.meters["cp1:1"].energy_wh = 20  # the meter was replaced
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    rig.meters["cp1:1"].energy_wh = 520
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    newest, oldest = await rig.store.recent()
    assert (oldest.meter_start_wh, oldest.meter_stop_wh) == (1000, 5000)
    assert (newest.meter_start_wh, newest.meter_stop_wh) == (20, 520)
