"""A CSMS-set transaction limit (OCPP 2.1 TransactionLimit) ends the session where it is
reached, with the 2.1 reason, is kept with the session across a restart, and the session
bills its register difference."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from edge_controller.domain.commands import SetTransactionLimit, StopReason, TransactionLimit
from edge_controller.domain.model import CpState
from edge_controller.domain.sessions.events import MeterSampled, ReadingContext, SessionEnded
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.tariff_store import SITE, TariffStore
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, make_rig, status
from tests.unit.services.sessions.test_pricing import BERLIN, minutes, priced_rig, standard, start
from tests.unit.services.sessions.test_session_manager import drain

FIVE_KWH = TransactionLimit(max_energy_wh=Decimal(5000))


async def test_energy_limit_stops_at_5000_wh_and_bills_the_register_difference(
    tmp_path: Path,
) -> None:
    rig, _ = await priced_rig(tmp_path / "edge.db")
    await start(rig)
    (record,) = await rig.store.open_sessions()
    result = await rig.manager.set_limit(SetTransactionLimit(record.local_id, FIVE_KWH))
    assert result.ok
    await minutes(rig, 4, wh_each=1000)
    assert rig.manager.open_session("cp1:1") is not None  # 4,000 Wh: goes on
    await minutes(rig, 1, wh_each=1000)
    assert rig.manager.open_session("cp1:1") is None and rig.gate.allowed("cp1:1") is False
    (closed,) = await rig.store.recent()
    assert closed.stop_reason == "EnergyLimitReached"
    assert (closed.meter_stop_wh or 0) - closed.meter_start_wh == 5000
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None
    assert kept.total_excl_tax_minor == 200  # 5 kWh at 0.40
    assert kept.total_incl_tax_minor == 238  # + 19 % VAT
    ended = [e for e in await drain(rig) if isinstance(e, SessionEnded)]
    assert ended[0].reason is StopReason.ENERGY_LIMIT
    assert ended[0].stop_register_wh - ended[0].start_register_wh == 5000
    await rig.db.close()


async def test_a_restart_keeps_the_limit(tmp_path: Path) -> None:
    path, clock = tmp_path / "edge.db", Clock()
    meters = {"cp1:1": CounterMeter(), "cp1:2": CounterMeter()}
    rig, _ = await priced_rig(path, clock)
    rig.meters.update(meters)
    await start(rig)
    (record,) = await rig.store.open_sessions()
    limit = TransactionLimit(max_energy_wh=Decimal(3000), max_time_s=7200)
    assert (await rig.manager.set_limit(SetTransactionLimit(record.local_id, limit))).ok
    await minutes(rig, 2, wh_each=1000)
    await rig.db.close()  # the daemon ends without closing the session (power loss)

    again = await make_rig(path, clock=clock, meters=meters)
    pricing = SessionPricing(TariffStore(again.db), BERLIN, clock=again.clock)
    await pricing.apply_config({SITE: standard()})
    again.manager.recorder.pricing = pricing
    await again.manager.recover()
    await again.manager.on_charger_status("cp1:1", status(CpState.C))
    assert again.manager.open_session("cp1:1") is not None
    await minutes(again, 1, wh_each=1000)
    (closed,) = await again.store.recent()
    assert closed.stop_reason == "EnergyLimitReached"
    assert (closed.meter_stop_wh or 0) - closed.meter_start_wh == 3000
    kept = await again.store.cost(closed.local_id)
    assert kept is not None and kept.total_incl_tax_minor == 143  # 3 kWh * 0.40 * 1.19 = 1.428
    await again.db.close()


async def test_cost_limit_stops_before_a_sample_would_pass_the_amount(tmp_path: Path) -> None:
    """The limit 1.19 at 500 Wh a sample (0.238 EUR gross each): the session stops at the
    sample that reaches 1.19 (2,500 Wh), billed 1.19, where it ran to 3,000 Wh and 1.43
    before. The cost is priced after each sample, so the check projects it ahead."""
    rig, pricing = await priced_rig(tmp_path / "edge.db")
    await start(rig)
    (record,) = await rig.store.open_sessions()
    limit = TransactionLimit(max_cost=Decimal("1.19"))  # 2.5 kWh at 0.476 gross
    assert (await rig.manager.set_limit(SetTransactionLimit(record.local_id, limit))).ok
    for _ in range(10):
        await minutes(rig, 1, wh_each=500)
        await pricing.refresh()  # as the pricing service does when readings arrive
        if rig.manager.open_session("cp1:1") is None:
            break
    (closed,) = await rig.store.recent()
    assert closed.stop_reason == "CostLimitReached"
    assert (closed.meter_stop_wh or 0) - closed.meter_start_wh == 2500
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.total_incl_tax_minor == 119  # 2.5 kWh * 0.476
    assert kept.total_excl_tax_minor == 100
    await rig.db.close()


async def test_time_limit_stops_at_its_duration(tmp_path: Path) -> None:
    rig, _ = await priced_rig(tmp_path / "edge.db")
    await start(rig)
    (record,) = await rig.store.open_sessions()
    limit = TransactionLimit(max_time_s=600)
    assert (await rig.manager.set_limit(SetTransactionLimit(record.local_id, limit))).ok
    await minutes(rig, 9, wh_each=100)
    assert rig.manager.open_session("cp1:1") is not None
    await minutes(rig, 1, wh_each=100)
    (closed,) = await rig.store.recent()
    assert closed.stop_reason == "TimeLimitReached"
    assert (closed.stop_at_s or 0) - closed.start_at_s == 600
    await rig.db.close()


async def test_a_limit_for_a_session_not_running_is_refused(tmp_path: Path) -> None:
    rig, _ = await priced_rig(tmp_path / "edge.db")
    result = await rig.manager.set_limit(SetTransactionLimit(42, FIVE_KWH))
    assert not result.ok and "42" in (result.error or "")
    await rig.db.close()


async def test_an_energy_limit_is_checked_between_samples(tmp_path: Path) -> None:
    """Samples are a minute apart here; the limit is read every tick, so 22 kW do not run a
    minute past 5,000 Wh."""
    rig, _ = await priced_rig(tmp_path / "edge.db")
    await start(rig)
    (record,) = await rig.store.open_sessions()
    assert (await rig.manager.set_limit(SetTransactionLimit(record.local_id, FIVE_KWH))).ok
    await minutes(rig, 4, wh_each=1000)
    rig.clock.now_s += 10  # mid-way to the next sample
    rig.meters["cp1:1"].energy_wh += 1000
    await rig.manager.tick()
    (closed,) = await rig.store.recent()
    assert closed.stop_reason == "EnergyLimitReached"
    assert (closed.meter_stop_wh or 0) - closed.meter_start_wh == 5000
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.total_incl_tax_minor == 238
    await rig.db.close()


async def test_the_limit_is_reported_back_at_once_with_a_triggered_sample(tmp_path: Path) -> None:
    rig, _ = await priced_rig(tmp_path / "edge.db")
    await start(rig)
    (record,) = await rig.store.open_sessions()
    await minutes(rig, 2, wh_each=1000)
    rig.clock.now_s += 5
    assert (await rig.manager.set_limit(SetTransactionLimit(record.local_id, FIVE_KWH))).ok
    queued = []
    while (message := await rig.outbox.peek("site")) is not None:
        queued.append(message)
        await rig.outbox.ack(message.seq)
    last = queued[-1]
    assert isinstance(last.event, MeterSampled) and last.event.context is ReadingContext.LIMIT_SET
    assert last.event.readings[0].value == 3000  # the register when the limit was taken
    assert last.session_limit == FIVE_KWH  # what its TransactionEvent reports back
    assert all(m.session_limit is None for m in queued[:-1])  # queued before the limit
    await rig.db.close()
