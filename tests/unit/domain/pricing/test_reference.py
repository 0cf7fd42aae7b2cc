"""cost() against a second-by-second reference: the reference asks the conditions again for
every second of the session (in the site's local time, so across clock changes as they
happen) and adds up what each second costs. For tariffs whose conditions change only on whole
seconds (no energy thresholds), both must give the same total to the minor unit. The meaning
of each condition is pinned down by the cases; this checks how cost() cuts time into slices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_controller.domain.pricing import (
    Activity,
    Calendar,
    Conditions,
    Currency,
    EnergyPrice,
    PriceList,
    Tariff,
    Timeline,
    TimePrice,
    cost,
)
from edge_controller.domain.pricing.conditions import US, Moment, first_applying, first_fixed
from edge_controller.domain.pricing.money import round_half_up
from tests.unit.domain.pricing.strategies import (
    ZONES,
    conditions,
    tariffs,
    timelines,
    unit_prices,
)


def _no_energy_bounds(price_list: PriceList | None) -> PriceList | None:  # type: ignore[type-arg]
    if price_list is None:
        return None
    elements = tuple(
        replace(e, conditions=replace(e.conditions, min_energy_wh=None, max_energy_wh=None))
        if isinstance(e.conditions, Conditions)
        else e
        for e in price_list.prices
    )
    return PriceList(elements, ())


def _plain(tariff: Tariff) -> Tariff:
    return replace(
        tariff,
        energy=_no_energy_bounds(tariff.energy),
        charging_time=_no_energy_bounds(tariff.charging_time),
        idle_time=_no_energy_bounds(tariff.idle_time),
        fixed_fee=None if tariff.fixed_fee is None else PriceList(tariff.fixed_fee.prices),
        reservation_time=None,
        min_cost=None,
        max_cost=None,
        prices_include_tax=False,
    )


def reference(tariff: Tariff, line: Timeline, zone: tzinfo) -> Fraction:
    """The net cost, one second at a time."""
    origin = line.started_at
    start_wh = line.readings[0].energy_wh
    marks = [
        (int((r.at - origin).total_seconds()), Fraction(r.energy_wh - start_wh), r)
        for r in line.readings
    ]
    total, charged_s, idled_s = Fraction(0), 0, 0
    if tariff.fixed_fee is not None:
        index = first_fixed(tariff.fixed_fee.prices, origin.astimezone(zone), line.context)
        total += Fraction(tariff.fixed_fee.prices[index].price) if index is not None else 0
    for second in range(int((line.until - origin).total_seconds())):
        at = origin + timedelta(seconds=second)
        activity = Activity.IDLE
        for change in line.activity:
            if change.at <= at:
                activity = change.activity
        held = [m for m in marks if m[0] <= second][-1]
        moment = Moment(
            at.astimezone(zone),
            second * US,
            charged_s * US,
            idled_s * US,
            held[1],
            held[2].power_w,
            held[2].current_sum_a,
            line.context,
        )
        time_list = tariff.charging_time if activity is Activity.CHARGING else tariff.idle_time
        index = first_applying(time_list.prices, moment) if time_list else None
        if time_list is not None and index is not None:
            total += Fraction(time_list.prices[index].price_per_minute) / 60
        if tariff.energy is not None:
            index = first_applying(tariff.energy.prices, moment)
            if index is not None:
                used = _energy(marks, second + 1) - _energy(marks, second)
                total += Fraction(tariff.energy.prices[index].price_per_kwh) * used / 1000
        if activity is Activity.CHARGING:
            charged_s += 1
        else:
            idled_s += 1
    return total


def _energy(marks: list[tuple[int, Fraction, object]], second: int) -> Fraction:
    before = [m for m in marks if m[0] <= second][-1]
    after = [m for m in marks if m[0] > second]
    if not after:
        return before[1]
    share = Fraction(second - before[0], after[0][0] - before[0])
    return before[1] + (after[0][1] - before[1]) * share


# The 2025 clock changes: Berlin on the last Sundays of March and October, New York on the
# second Sunday of March and the first of November.
CHANGES = [
    (ZoneInfo("Europe/Berlin"), datetime(2025, 3, 30, 1, 0, tzinfo=UTC)),
    (ZoneInfo("Europe/Berlin"), datetime(2025, 10, 26, 1, 0, tzinfo=UTC)),
    (ZoneInfo("America/New_York"), datetime(2025, 3, 9, 7, 0, tzinfo=UTC)),
    (ZoneInfo("America/New_York"), datetime(2025, 11, 2, 6, 0, tzinfo=UTC)),
]
# Times of day in the small hours, where the clocks jump.
night_times = st.none() | st.builds(time, st.integers(0, 4), st.sampled_from([0, 15, 30, 45]))


@st.composite
def night_conditions(draw: st.DrawFn) -> Conditions:
    drawn = draw(conditions()) or Conditions()
    calendar = Calendar(draw(night_times), draw(night_times), drawn.calendar.days_of_week)
    return replace(drawn, calendar=calendar)


@st.composite
def night_tariffs(draw: st.DrawFn) -> Tariff:
    def elements(make: type, low: int) -> tuple[object, ...]:
        return tuple(
            draw(
                st.lists(st.builds(make, unit_prices, night_conditions()), min_size=low, max_size=3)
            )
        )

    energy, charged, idle = elements(EnergyPrice, 1), elements(TimePrice, 0), elements(TimePrice, 0)
    return Tariff(
        "night",
        Currency.of("EUR"),
        energy=PriceList(energy),  # type: ignore[arg-type]
        charging_time=PriceList(charged) if charged else None,  # type: ignore[arg-type]
        idle_time=PriceList(idle) if idle else None,  # type: ignore[arg-type]
    )


@st.composite
def night_sessions(draw: st.DrawFn) -> tuple[Timeline, ZoneInfo]:
    zone, change = draw(st.sampled_from(CHANGES))
    start = change - timedelta(seconds=draw(st.integers(0, 3 * 3600)))
    line = draw(timelines(max_hours=3))
    shift = start - line.started_at
    moved = replace(
        line,
        started_at=start,
        until=line.until + shift,
        readings=tuple(replace(r, at=r.at + shift) for r in line.readings),
        activity=tuple(replace(c, at=c.at + shift) for c in line.activity),
        reservation=None,
    )
    return moved, zone


@settings(max_examples=60, deadline=None)
@given(night_tariffs(), night_sessions())
def test_cost_agrees_with_the_reference_across_clock_changes(
    tariff: Tariff, session: tuple[Timeline, ZoneInfo]
) -> None:
    line, zone = session
    tariff = _plain(tariff)
    expected = round_half_up(reference(tariff, line, zone), tariff.currency.minor_units)
    assert cost(tariff, line, zone).total_excl_tax.amount == expected


@settings(max_examples=30, deadline=None)
@given(tariffs(), timelines(max_hours=3), st.sampled_from(ZONES))
def test_cost_agrees_with_the_reference(tariff: Tariff, line: Timeline, zone: ZoneInfo) -> None:
    tariff = _plain(tariff)
    line = replace(line, reservation=None)
    expected = round_half_up(reference(tariff, line, zone), tariff.currency.minor_units)
    assert cost(tariff, line, zone).total_excl_tax.amount == expected
