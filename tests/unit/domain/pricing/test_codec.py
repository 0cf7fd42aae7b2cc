"""The tariff's JSON shape (config, database, receipts) keeps every field of every case's
tariff, and a recorded session becomes the timeline cost() prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge_controller.domain.pricing import Activity, Component, Currency, TariffError, cost
from edge_controller.domain.pricing.codec import (
    ad_hoc_json,
    breakdown_to_json,
    tariff_from_json,
    tariff_to_json,
)
from edge_controller.domain.pricing.recorded import Reading, ad_hoc_price, recorded_timeline
from tests.unit.domain.pricing.case_io import load

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_case_tariff_survives_json(path: Path) -> None:
    case = load(path)
    body = tariff_to_json(case.tariff)
    assert tariff_from_json(body, case.tariff.version) == case.tariff
    # and prices the case's session to the same cent
    again = cost(tariff_from_json(body, case.tariff.version), case.timeline, case.zone)
    assert again == cost(case.tariff, case.timeline, case.zone)


def test_numbers_are_read_through_their_text() -> None:
    body = {"id": "t", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": 0.1}]}}
    tariff = tariff_from_json(body)
    assert tariff.energy is not None
    assert tariff.energy.prices[0].price_per_kwh == Decimal("0.1")  # not 0.1000000000000000055


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"id": "t", "currency": "XYZ"}, "currency"),
        ({"id": "t", "currency": "EUR", "energy": {"prices": []}}, "energy.prices: empty"),
        ({"id": "t", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "-1"}]}}, "price"),
        ({"currency": "EUR"}, "not a tariff"),
    ],
)
def test_bad_tariff_json_is_refused_with_its_field(body: dict[str, object], reason: str) -> None:
    with pytest.raises(TariffError, match=reason):
        tariff_from_json(body)


def _readings(*pairs: tuple[float, int]) -> list[Reading]:
    return [Reading(T0 + at, wh) for at, wh in pairs]


def test_recorded_session_charges_while_the_register_rises_and_idles_when_it_stays() -> None:
    # 0-600 s: +3000 Wh, 600-1800 s: nothing (the EV is full), then stop.
    line = recorded_timeline(T0, T0 + 1800, _readings((0, 1000), (600, 4000), (1800, 4000)))
    assert [c.activity for c in line.activity] == [Activity.CHARGING, Activity.IDLE]
    assert line.activity[1].at - line.started_at == timedelta(seconds=600)
    body = {
        "id": "idle",
        "currency": "EUR",
        "energy": {"prices": [{"price_per_kwh": "0.50"}]},
        "idle_time": {"prices": [{"price_per_minute": "0.10"}]},
    }
    found = cost(tariff_from_json(body), line, BERLIN)
    assert found.component(Component.ENERGY).excl_tax.amount == Decimal("1.50")  # 3 kWh
    assert found.component(Component.IDLE_TIME).excl_tax.amount == Decimal("2.00")  # 20 min
    assert found.total_excl_tax.amount == Decimal("3.50")


def test_recorded_session_without_readings_after_start_and_a_stepped_back_register() -> None:
    line = recorded_timeline(T0, T0 + 60, _readings((0, 500), (30, 400), (60, 700)))
    assert [r.energy_wh for r in line.readings] == [Decimal(500), Decimal(500), Decimal(700)]
    alone = recorded_timeline(T0, T0, [])
    assert alone.readings[0].energy_wh == 0 and alone.activity == ()


def test_ad_hoc_price_is_the_price_now_with_tax_and_the_idle_fee_threshold() -> None:
    body = {
        "id": "afir",
        "currency": "EUR",
        "energy": {
            "prices": [
                {"price_per_kwh": "0.30", "conditions": {"start_time_of_day": "22:00",
                                                          "end_time_of_day": "06:00"}},
                {"price_per_kwh": "0.40"},
            ],
            "tax_rates": [{"name": "VAT", "percent": "19"}],
        },
        "idle_time": {"prices": [{"price_per_minute": "0.10",
                                  "conditions": {"min_idle_time_s": 3600}}]},
        "fixed_fee": {"prices": [{"price": "0.995"}]},
        "descriptions": [{"text": "Preis", "language": "de"}, {"text": "Price", "language": "en"}],
    }  # fmt: skip
    tariff = tariff_from_json(body)
    day = ad_hoc_price(tariff, datetime(2026, 3, 2, 11, 0, tzinfo=UTC), BERLIN)
    night = ad_hoc_price(tariff, datetime(2026, 3, 2, 22, 30, tzinfo=UTC), BERLIN)
    assert day.per_kwh is not None and day.per_kwh.amount == Decimal("0.476")  # 0.40 * 1.19
    assert night.per_kwh is not None and night.per_kwh.amount == Decimal("0.357")
    assert day.per_minute_idle is not None and day.per_minute_idle.after_s == 3600
    assert day.per_minute_charging is None
    assert day.per_session is not None and day.per_session.amount == Decimal("1.00")
    shown = ad_hoc_json(day)
    assert shown["per_kwh"] == "0.476" and shown["per_session"] == "1.00"
    assert shown["text"] == "Price" and shown["currency"] == "EUR"


def test_breakdown_json_adds_up() -> None:
    line = recorded_timeline(T0, T0 + 3600, _readings((0, 0), (1800, 5000), (3600, 11000)))
    body = {"id": "t", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.333"}],
            "tax_rates": [{"name": "VAT", "percent": "19"}]}}  # fmt: skip
    found = breakdown_to_json(cost(tariff_from_json(body), line, BERLIN))
    assert found["currency"] == Currency.of("EUR").code
    assert found["total_excl_tax"] == "3.66" and found["total_incl_tax"] == "4.36"
    periods = sum(Decimal(p["incl_tax"]) for p in found["periods"])
    taxes = sum(Decimal(t["amount"]) for t in found["taxes"])
    assert periods == Decimal(found["total_incl_tax"])
    assert Decimal(found["total_excl_tax"]) + taxes == Decimal(found["total_incl_tax"])


def test_a_stop_in_the_second_of_a_sample_bills_the_stop_register() -> None:
    line = recorded_timeline(T0, T0 + 600, _readings((0, 1000), (600, 1000), (600, 11000)))
    assert line.readings[-1].energy_wh == Decimal(11000)
    body = {"id": "t", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.60"}]}}
    assert cost(tariff_from_json(body), line, BERLIN).total_excl_tax.amount == Decimal("6.00")
