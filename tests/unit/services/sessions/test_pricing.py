"""Every session records the tariff that priced it (id, version, source); its running cost and
its final cost are cost() of its recorded register readings, in money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge_controller.domain.model import CpState, Token
from edge_controller.domain.pricing import Component, cost
from edge_controller.domain.pricing.codec import tariff_from_json
from edge_controller.domain.pricing.recorded import Reading, recorded_timeline
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.sessions_store import SessionRecord, TariffRef
from edge_controller.storage.tariff_store import SITE, TariffStore
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, Rig, make_rig, status

BERLIN = ZoneInfo("Europe/Berlin")
VAT = [{"name": "VAT", "percent": "19"}]


def standard(per_kwh: str = "0.40") -> dict[str, Any]:
    """Net prices: per kWh, and 0.10 EUR a minute idle after 10 minutes of idling."""
    return {
        "id": "std",
        "currency": "EUR",
        "energy": {"prices": [{"price_per_kwh": per_kwh}], "tax_rates": VAT},
        "idle_time": {
            "prices": [{"price_per_minute": "0.10", "conditions": {"min_idle_time_s": 600}}],
            "tax_rates": VAT,
        },
    }


async def priced_rig(path: Path, clock: Clock | None = None) -> tuple[Rig, SessionPricing]:
    meters = {"cp1:1": CounterMeter(), "cp1:2": CounterMeter()}
    rig = await make_rig(path, clock=clock, meters=meters)
    pricing = SessionPricing(TariffStore(rig.db), BERLIN, clock=rig.clock)
    await pricing.apply_config({SITE: standard()})
    rig.manager.recorder.pricing = pricing
    return rig, pricing


async def start(rig: Rig, cid: str = "cp1:1", tag: str = "AABBCCDD") -> None:
    rig.csms.answers[tag] = AuthEntry(tag, AuthStatus.ACCEPTED)
    await rig.manager.on_charger_status(cid, status(CpState.C))
    assert (await rig.manager.on_token(Token(tag), cid)).accepted


async def minutes(rig: Rig, count: int, wh_each: float = 0.0, cid: str = "cp1:1") -> None:
    for _ in range(count):
        rig.clock.now_s += 60
        rig.meters[cid].energy_wh += wh_each
        await rig.manager.tick()


async def recorded_cost(rig: Rig, record: SessionRecord, until_s: float) -> Any:
    """cost() computed here, independently, from what the database holds."""
    values = await rig.store.meter_values(record.local_id)
    readings = [Reading(v.at_s, v.energy_wh, v.power_w) for v in values if v.at_s <= until_s]
    line = recorded_timeline(record.start_at_s, until_s, readings)
    return cost(tariff_from_json(standard(), 1), line, BERLIN)


async def test_session_records_its_tariff_and_is_priced_from_its_register(tmp_path: Path) -> None:
    rig, pricing = await priced_rig(tmp_path / "edge.db")
    events = rig.manager.events.subscribe()
    await start(rig)
    (record,) = await rig.store.open_sessions()
    assert record.tariff == TariffRef("std", 1, "config")
    await minutes(rig, 5, wh_each=1000)  # 5 kWh in 5 minutes
    await pricing.refresh()  # as the pricing service does when readings arrive
    running = pricing.running("cp1:1")
    assert running is not None
    assert running.total_excl_tax.amount == Decimal("2.00")  # 5 kWh at 0.40
    assert running == await recorded_cost(rig, record, rig.clock.now_s)
    await minutes(rig, 30)  # full: 30 minutes idle, the first 10 free
    await pricing.refresh()  # as the pricing service does when readings arrive
    running = pricing.running("cp1:1")
    assert running is not None and running == await recorded_cost(rig, record, rig.clock.now_s)
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    (closed,) = await rig.store.recent()
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.currency == "EUR"
    assert kept.total_excl_tax_minor == 400  # 2.00 energy + 20 min * 0.10 idle
    assert kept.total_incl_tax_minor == 476  # + 19 % VAT
    final = await recorded_cost(rig, closed, closed.stop_at_s or 0)
    assert final.component(Component.IDLE_TIME).excl_tax.amount == Decimal("2.00")
    assert kept.breakdown["total_incl_tax"] == str(final.total_incl_tax.amount) == "4.76"
    assert pricing.running("cp1:1") is None
    stopped = [e for e in (events.get_nowait(), events.get_nowait()) if e.kind == "stopped"]
    assert stopped[0].cost == kept  # the final cost goes out with the stop
    await rig.db.close()


async def test_a_new_tariff_version_prices_new_sessions_only(tmp_path: Path) -> None:
    rig, pricing = await priced_rig(tmp_path / "edge.db")
    await start(rig, "cp1:1", "AAAA0001")
    await pricing.apply_config({SITE: standard("0.60")})  # the installer changed the price
    await start(rig, "cp1:2", "BBBB0002")
    await minutes(rig, 10, wh_each=1000, cid="cp1:1")
    rig.meters["cp1:2"].energy_wh += 10_000
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    await rig.manager.on_charger_status("cp1:2", status(CpState.A))
    first, second = sorted(await rig.store.recent(), key=lambda r: r.connector_id)
    assert first.tariff == TariffRef("std", 1, "config")
    assert second.tariff == TariffRef("std", 2, "config")
    first_cost = await rig.store.cost(first.local_id)
    second_cost = await rig.store.cost(second.local_id)
    assert first_cost is not None and first_cost.total_excl_tax_minor == 400  # 10 kWh at 0.40
    assert second_cost is not None and second_cost.total_excl_tax_minor == 600  # at 0.60
    await rig.db.close()


async def test_power_loss_is_priced_to_the_last_register_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    rig, _ = await priced_rig(path)
    await start(rig)
    await minutes(rig, 3, wh_each=2000)  # 6 kWh recorded, then the power goes
    await rig.db.close()
    meters_after = 99_999.0  # the EV left and another charged meanwhile: never billed here
    clock = Clock(rig.clock.now_s + 3600)
    rig, pricing = await priced_rig(path, clock)
    rig.meters["cp1:1"].energy_wh = meters_after
    (record,) = await rig.manager.recover()
    await pricing.refresh()  # as the pricing service does when readings arrive
    running = pricing.running("cp1:1")
    assert running is not None and running.total_excl_tax.amount == Decimal("2.40")
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    kept = await rig.store.cost(record.local_id)
    assert kept is not None and kept.total_excl_tax_minor == 240  # 6 kWh at 0.40
    assert kept.breakdown["stop_register_unknown"] is True
    await rig.db.close()


async def test_a_clock_stepped_back_past_the_start_still_bills_the_register(
    tmp_path: Path,
) -> None:
    """Just after the start the clock is corrected back by an hour; the EV takes 10 kWh and
    leaves before the clock is back at the start: the stop is kept at the start's time (never
    before what was recorded) and the 10 kWh are billed 4.00, never 0.00."""
    rig, pricing = await priced_rig(tmp_path / "edge.db")
    await start(rig)
    rig.clock.now_s -= 3600  # the time source corrects the clock by an hour
    await minutes(rig, 10, wh_each=1000)
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    (closed,) = await rig.store.recent()
    assert closed.stop_at_s == closed.start_at_s and closed.energy_wh == 10_000
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.total_excl_tax_minor == 400  # 10 kWh at 0.40
    assert kept.total_incl_tax_minor == 476
    assert Decimal(kept.breakdown["usage"]["energy_wh"]) == 10_000
    assert pricing.running("cp1:1") is None
    await rig.db.close()


async def test_a_clock_stepped_back_while_idle_counts_no_time_twice(tmp_path: Path) -> None:
    """10 kWh in 10 minutes, 10 minutes idle, the clock goes back 5 minutes, 10 more minutes
    idle. The recorder samples at once after the step, so the readings show 19 idle minutes
    (the one across the step is not known), each counted once: the idle fee (after 10 idle
    minutes) is 9 minutes, the energy the register difference, the running cost the final
    one."""
    rig, pricing = await priced_rig(tmp_path / "edge.db")
    await start(rig)
    await minutes(rig, 10, wh_each=1000)
    await minutes(rig, 10)
    rig.clock.now_s -= 300
    await minutes(rig, 10)
    await pricing.refresh()
    running = pricing.running("cp1:1")
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    (closed,) = await rig.store.recent()
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.total_excl_tax_minor == 490  # 4.00 energy + 9 min x 0.10
    assert running is not None and running.total_excl_tax.minor == 490
    usage = {key: Decimal(value) for key, value in kept.breakdown["usage"].items()}
    assert usage | {"reservation_time_s": 0} == {
        "energy_wh": 10_000,
        "charging_time_s": 600,
        "idle_time_s": 1140,
        "reservation_time_s": 0,
    }
    assert running == await recorded_cost(rig, closed, closed.stop_at_s or 0)
    await rig.db.close()


async def test_a_tariff_valid_from_a_later_time_waits_for_it(tmp_path: Path) -> None:
    """A CSMS announces a new price for an hour from now: sessions starting before then pay
    the price before it, whole; those starting after, the new one."""
    rig, pricing = await priced_rig(tmp_path / "edge.db")
    later = datetime.fromtimestamp(rig.clock.now_s + 3600, UTC).isoformat()
    announced = standard("0.60") | {"id": "csms", "valid_from": later}
    assert await pricing.assign(SITE, announced, "ocpp21:SetDefaultTariff") is None
    found = pricing.tariff_for("cp1:1")
    assert found is not None and found[1] == TariffRef("std", 1, "config")
    ad_hoc = pricing.ad_hoc("cp1:1")
    assert ad_hoc is not None and ad_hoc.per_kwh is not None
    assert ad_hoc.per_kwh.amount == Decimal("0.476")  # 0.40 + 19 %
    await start(rig)
    await minutes(rig, 70, wh_each=100)  # 7 kWh, across the hour
    found = pricing.tariff_for("cp1:2")
    assert found is not None and found[1] == TariffRef("csms", 1, "ocpp21:SetDefaultTariff")
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    (closed,) = await rig.store.recent()
    assert closed.tariff == TariffRef("std", 1, "config")
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.total_excl_tax_minor == 280  # 7 kWh at 0.40
    await rig.db.close()
