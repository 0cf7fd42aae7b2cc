"""Properties on random tariffs and sessions: the parts add up to the totals, the running cost
never decreases, the limits hold, and a flat price is exact to the minor unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_controller.domain.pricing import (
    Currency,
    EnergyPrice,
    PriceList,
    RegisterReading,
    Tariff,
    Timeline,
    cost,
)
from edge_controller.domain.pricing.money import round_half_up
from tests.unit.domain.pricing.invariants import check_all
from tests.unit.domain.pricing.strategies import ZONES, tariffs, timelines


@settings(max_examples=200, deadline=None)
@given(tariffs(), timelines(), st.sampled_from(ZONES))
def test_parts_add_up_and_limits_hold(tariff: Tariff, line: Timeline, zone: ZoneInfo) -> None:
    breakdown = cost(tariff, line, zone)
    check_all(breakdown, line)
    places = tariff.currency.minor_units
    total = breakdown.total_excl_tax.amount
    if tariff.min_cost is not None:
        assert total >= round_half_up(tariff.min_cost.figures()[0], places)
    if tariff.max_cost is not None:
        assert total <= round_half_up(tariff.max_cost.figures()[0], places)
    assert breakdown.stop_register_unknown is not line.stop_register_known


@settings(max_examples=100, deadline=None)
@given(tariffs(), timelines(max_hours=6), st.sampled_from(ZONES), st.data())
def test_running_cost_never_decreases(
    tariff: Tariff, line: Timeline, zone: ZoneInfo, data: st.DataObject
) -> None:
    span_s = int((line.until - line.started_at).total_seconds())
    cuts = sorted(data.draw(st.lists(st.integers(0, span_s), min_size=2, max_size=8)))
    moments = [line.started_at + timedelta(seconds=c) for c in cuts] + [line.until]
    moments += [r.at for r in line.readings]
    shown = [cost(tariff, line.prefix(at), zone) for at in sorted(moments)]
    for before, after in pairwise(shown):
        assert after.total_excl_tax.amount >= before.total_excl_tax.amount
        assert after.total_incl_tax.amount >= before.total_incl_tax.amount


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=0, max_value=5, places=4),
    st.decimals(min_value=0, max_value=10**8, places=3),
    st.lists(st.decimals(min_value=0, max_value=50000, places=3), min_size=1, max_size=10),
    st.sampled_from(["EUR", "JPY", "KWD", "CHF"]),
)
def test_a_flat_price_is_exact(
    price: Decimal, start_wh: Decimal, steps: list[Decimal], code: str
) -> None:
    currency = Currency.of(code)
    tariff = Tariff("flat", currency, energy=PriceList((EnergyPrice(price),)))
    first = RegisterReading(_at(0), start_wh)
    readings = [first]
    for number, step in enumerate(steps, start=1):
        readings.append(RegisterReading(_at(number * 600), readings[-1].energy_wh + step))
    line = Timeline(first.at, readings[-1].at, tuple(readings))
    breakdown = cost(tariff, line, ZONES[2])
    register = readings[-1].energy_wh - start_wh
    expected = round_half_up(Fraction(price) * Fraction(register) / 1000, currency.minor_units)
    assert breakdown.total_excl_tax.amount == expected
    assert breakdown.usage.energy_wh == register


def _at(seconds: int) -> datetime:
    return datetime(2025, 3, 30, 0, 0, tzinfo=UTC) + timedelta(seconds=seconds)
