"""Hypothesis strategies: random tariffs with every kind of condition, and random sessions,
many of them across a daylight-saving change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from edge_controller.domain.pricing import (
    Activity,
    ActivityChange,
    Calendar,
    Conditions,
    CostLimit,
    Currency,
    EnergyPrice,
    FixedPrice,
    PriceList,
    RegisterReading,
    ReservationSpan,
    Tariff,
    TaxRate,
    Timeline,
    TimePrice,
    Weekday,
)

ZONES = [ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("UTC")]
# Around the 2025 clock changes of Berlin and New York, and an ordinary day.
ORIGINS = [
    datetime(2025, 3, 29, 22, 0, tzinfo=UTC),
    datetime(2025, 10, 25, 22, 0, tzinfo=UTC),
    datetime(2025, 3, 9, 4, 0, tzinfo=UTC),
    datetime(2025, 11, 2, 3, 0, tzinfo=UTC),
    datetime(2025, 6, 13, 18, 0, tzinfo=UTC),
]
unit_prices = st.decimals(min_value=0, max_value=2, places=3)
times_of_day = st.none() | st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def _pair(draw: st.DrawFn, values: Sequence[int]) -> tuple[int | None, int | None]:
    low = draw(st.none() | st.sampled_from(values))
    high = draw(st.none() | st.sampled_from(values))
    if low is not None and high is not None and low >= high:
        return low, None
    return low, high


def _dec(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@st.composite
def conditions(draw: st.DrawFn) -> Conditions | None:
    if draw(st.booleans()):
        return None
    days = draw(st.none() | st.frozensets(st.sampled_from(list(Weekday)), min_size=1))
    energy = _pair(draw, [0, 2000, 5000, 20000])
    power = _pair(draw, [2000, 7000, 11000])
    current = _pair(draw, [10, 16, 32])
    elapsed = _pair(draw, [600, 3600, 7200])
    charged = _pair(draw, [300, 1800, 3600])
    idle = _pair(draw, [300, 1800])
    return Conditions(
        calendar=Calendar(draw(times_of_day), draw(times_of_day), days),
        min_energy_wh=_dec(energy[0]),
        max_energy_wh=_dec(energy[1]),
        min_power_w=_dec(power[0]),
        max_power_w=_dec(power[1]),
        min_current_a=_dec(current[0]),
        max_current_a=_dec(current[1]),
        min_time_s=elapsed[0],
        max_time_s=elapsed[1],
        min_charging_time_s=charged[0],
        max_charging_time_s=charged[1],
        min_idle_time_s=idle[0],
        max_idle_time_s=idle[1],
    )


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    """One tax rate (or none) for every component and limit, as a site has its VAT."""
    taxes = draw(
        st.sampled_from([(), (TaxRate("VAT", Decimal(19)),), (TaxRate("VAT", Decimal("7.7")),)])
    )

    def time_list() -> PriceList[TimePrice] | None:
        elements = draw(st.lists(st.builds(TimePrice, unit_prices, conditions()), max_size=2))
        return PriceList(tuple(elements), taxes) if elements else None

    energy = draw(st.lists(st.builds(EnergyPrice, unit_prices, conditions()), max_size=3))
    fixed = draw(st.none() | unit_prices)
    low = draw(st.none() | st.decimals(min_value=0, max_value=5, places=2))
    high = draw(st.none() | st.decimals(min_value=5, max_value=40, places=2))
    return Tariff(
        tariff_id="random",
        currency=Currency.of(draw(st.sampled_from(["EUR", "JPY", "KWD"]))),
        energy=PriceList(tuple(energy), taxes) if energy else None,
        charging_time=time_list(),
        idle_time=time_list(),
        reservation_time=time_list(),
        fixed_fee=None if fixed is None else PriceList((FixedPrice(fixed),), taxes),
        min_cost=None if low is None else CostLimit(low, tax_rates=taxes),
        max_cost=None if high is None else CostLimit(high, tax_rates=taxes),
        prices_include_tax=draw(st.booleans()),
    )


@st.composite
def timelines(draw: st.DrawFn, max_hours: int = 10) -> Timeline:
    start = draw(st.sampled_from(ORIGINS)) + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    length_s = draw(st.integers(0, max_hours * 3600))
    offsets = sorted(set(draw(st.lists(st.integers(1, max(1, length_s)), max_size=12))))
    register = draw(st.decimals(min_value=0, max_value=10**7, places=1))
    readings = [RegisterReading(start, register, *_measures(draw))]
    for offset in (o for o in offsets if o <= length_s):
        register += draw(st.decimals(min_value=0, max_value=15000, places=draw(st.integers(0, 3))))
        readings.append(
            RegisterReading(start + timedelta(seconds=offset), register, *_measures(draw))
        )
    changes = sorted(set(draw(st.lists(st.integers(0, length_s), max_size=6))))
    activity = tuple(
        ActivityChange(
            start + timedelta(seconds=at), draw(st.sampled_from([Activity.CHARGING, Activity.IDLE]))
        )
        for at in changes
    )
    held_s = draw(st.none() | st.integers(0, 3600))
    reservation = (
        None if held_s is None else ReservationSpan(start - timedelta(seconds=held_s), start)
    )
    return Timeline(
        start,
        start + timedelta(seconds=length_s),
        tuple(readings),
        activity,
        stop_register_known=draw(st.booleans()),
        reservation=reservation,
    )


def _measures(draw: st.DrawFn) -> tuple[Decimal | None, Decimal | None]:
    power = draw(st.none() | st.decimals(min_value=0, max_value=22000, places=0))
    current = draw(st.none() | st.decimals(min_value=0, max_value=96, places=1))
    return power, current
