"""A running session's tariff changed (2.1 ChangeTransactionTariff, through the command port's
``ChangeSessionTariff``): the change is kept with the session, priced from its moment on, told
with a TariffChanged sample, and still in force after a restart (power loss mid-session)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from edge_controller.app import sessions_report as report
from edge_controller.domain.commands import ChangeSessionTariff
from edge_controller.domain.model import CpState
from edge_controller.domain.pricing.receipt import receipt_html as report_html
from edge_controller.domain.sessions.events import MeterSampled, ReadingContext
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.tariff_store import SITE, TariffStore
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, make_rig, status
from tests.unit.services.sessions.test_pricing import (
    BERLIN,
    VAT,
    minutes,
    priced_rig,
    standard,
    start,
)

SOURCE = "ocpp21:ChangeTransactionTariff"


def peak(currency: str = "EUR") -> dict[str, Any]:
    return {
        "id": "peak",
        "currency": currency,
        "energy": {"prices": [{"price_per_kwh": "0.60"}], "tax_rates": VAT},
    }


async def test_a_changed_tariff_prices_from_its_moment_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "edge.db", Clock()
    meters = {"cp1:1": CounterMeter(), "cp1:2": CounterMeter()}
    rig, _ = await priced_rig(path, clock)
    rig.meters.update(meters)
    await start(rig)
    (record,) = await rig.store.open_sessions()
    await minutes(rig, 5, wh_each=1000)  # 5 kWh at the site's 0.40
    changed_at_s = clock.now_s
    result = await rig.manager.change_tariff(ChangeSessionTariff(record.local_id, peak(), SOURCE))
    assert (result.ok, result.answer) == (True, "Accepted")
    told = []
    while (message := await rig.outbox.peek("site")) is not None:
        told.append(message.event)
        await rig.outbox.ack(message.seq)
    last = told[-1]
    assert isinstance(last, MeterSampled) and last.context is ReadingContext.TARIFF_CHANGED
    assert last.readings[0].value == meters["cp1:1"].energy_wh  # the register at the change
    await minutes(rig, 3, wh_each=1000)
    await rig.db.close()  # power loss: the session is still open

    again = await make_rig(path, clock=clock, meters=meters)
    pricing = SessionPricing(TariffStore(again.db), BERLIN, clock=again.clock)
    await pricing.apply_config({SITE: standard()})
    again.manager.recorder.pricing = pricing
    await again.manager.recover()
    await again.manager.on_charger_status("cp1:1", status(CpState.C))
    await minutes(again, 2, wh_each=1000)  # 5 kWh at 0.60 in all after the change
    await pricing.refresh()
    running = pricing.running("cp1:1")
    assert running is not None and running.total_excl_tax.amount == Decimal("5.00")
    assert [p.tariff_id for p in running.periods] == ["std", "peak"]
    await again.manager.on_charger_status("cp1:1", status(CpState.A))
    (closed,) = await again.store.recent()
    assert (closed.meter_stop_wh or 0) - closed.meter_start_wh == 10_000
    kept = await again.store.cost(closed.local_id)
    assert kept is not None
    assert kept.total_excl_tax_minor == 500  # 5 kWh x 0.40 + 5 kWh x 0.60
    assert kept.total_incl_tax_minor == 595  # + 19 % VAT
    await again.db.close()
    # The receipt names both tariffs, as the session stored them, and the two periods' money.
    found = report.receipt(report.Query(path, "site1", BERLIN), closed.local_id)
    (change,) = found["tariff"]["changes"]
    assert (found["tariff"]["id"], change["id"], change["version"]) == ("std", "peak", 1)
    assert change["at_s"] == changed_at_s and change["source"] == SOURCE
    assert [(p["tariff_id"], p["incl_tax"]) for p in found["periods"]] == [
        ("std", "2.38"), ("peak", "3.57")
    ]  # fmt: skip
    assert found["total_incl_tax"] == "5.95"
    local = datetime.fromtimestamp(changed_at_s, BERLIN).strftime("%H:%M:%S")
    assert f"std version 1; from {local} peak version 1" in report_html(found)


async def test_a_change_to_another_currency_or_of_no_running_session_is_refused(
    tmp_path: Path,
) -> None:
    rig, _ = await priced_rig(tmp_path / "edge.db")
    result = await rig.manager.change_tariff(ChangeSessionTariff(7, peak(), SOURCE))
    assert (result.ok, result.answer) == (False, "TxNotFound")
    await start(rig)
    (record,) = await rig.store.open_sessions()
    swiss = await rig.manager.change_tariff(
        ChangeSessionTariff(record.local_id, peak("CHF"), SOURCE)
    )
    assert (swiss.ok, swiss.answer) == (False, "NoCurrencyChange") and "EUR" in (swiss.error or "")
    await minutes(rig, 5, wh_each=1000)
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    (closed,) = await rig.store.recent()
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.total_excl_tax_minor == 200  # 5 kWh at 0.40: unchanged
    await rig.db.close()


def cheaper() -> dict[str, Any]:
    return {
        "id": "cheaper",
        "currency": "EUR",
        "energy": {"prices": [{"price_per_kwh": "0.20"}], "tax_rates": VAT},
    }


async def test_a_change_after_a_clock_step_back_reprices_nothing_before_it(
    tmp_path: Path,
) -> None:
    """The site's clock is corrected back 5 minutes mid-session, then the CSMS changes the
    session's tariff: on the session's clock (forward steps only) the change comes after all
    the energy recorded before it, so the running cost never goes back; the 7 kWh before the
    change keep 0.40, the 4 kWh after it cost 0.20, and the energy billed is the register
    difference."""
    path, clock = tmp_path / "edge.db", Clock()
    rig, pricing = await priced_rig(path, clock)
    await start(rig)
    (record,) = await rig.store.open_sessions()
    await minutes(rig, 5, wh_each=1000)
    await pricing.refresh()
    shown = [pricing.running("cp1:1")]
    clock.now_s -= 300  # the clock is corrected back
    await minutes(rig, 2, wh_each=1000)
    result = await rig.manager.change_tariff(
        ChangeSessionTariff(record.local_id, cheaper(), SOURCE)
    )
    assert result.answer == "Accepted"
    await pricing.refresh()
    shown.append(pricing.running("cp1:1"))
    for _ in range(4):
        await minutes(rig, 1, wh_each=1000)
        await pricing.refresh()
        shown.append(pricing.running("cp1:1"))
    totals = [c.total_excl_tax.amount for c in shown if c is not None]
    assert len(totals) == len(shown) and totals == sorted(totals), totals
    assert totals[:2] == [Decimal("2.00"), Decimal("2.80")], totals  # 5, then 7 kWh at 0.40
    assert totals[-1] == Decimal("3.60"), totals  # + 4 kWh at 0.20
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    (closed,) = await rig.store.recent()
    assert (closed.meter_stop_wh or 0) - closed.meter_start_wh == 11_000
    kept = await rig.store.cost(closed.local_id)
    assert kept is not None and kept.total_excl_tax_minor == 360  # 7 x 0.40 + 4 x 0.20
    await rig.db.close()
