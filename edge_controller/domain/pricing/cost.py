"""``cost()``: what a session costs under a tariff, or what it has cost so far."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from decimal import Decimal
from fractions import Fraction
from itertools import groupby

from edge_controller.domain.pricing.breakdown import (
    Amount,
    AppliedPrice,
    Component,
    CostBreakdown,
    CostType,
    Period,
    TaxAmount,
    Usage,
)
from edge_controller.domain.pricing.conditions import US, first_fixed
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.pricing.rounding import apportion, apportion_to
from edge_controller.domain.pricing.slices import (
    Slice,
    instant,
    micros,
    reservation_slices,
    session_slices,
    switched_slices,
)
from edge_controller.domain.pricing.tariff import (
    CostLimit,
    PriceList,
    Tariff,
    TariffError,
    TariffSwitch,
    TaxRate,
    TimePrice,
    tax_factor,
    tax_shares,
)
from edge_controller.domain.pricing.timeline import Activity, Timeline

ORDER = list(Component)
TIME_OF = {
    Activity.CHARGING: Component.CHARGING_TIME,
    Activity.IDLE: Component.IDLE_TIME,
    Activity.RESERVED: Component.RESERVATION_TIME,
}
DURATION_PLACES = 6  # microseconds, as datetimes keep them


@dataclass(slots=True)
class _Cell:
    """One component's exact amount in one period."""

    period: int
    component: Component
    net: Fraction
    gross: Fraction
    taxes: dict[TaxRate, Fraction] = field(default_factory=dict)
    price: AppliedPrice | None = None
    net_shown: Decimal = Decimal(0)  # rounded, once every cell is known
    gross_shown: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Limit:
    kind: CostType
    net: Fraction  # what the limit adds (negative: takes off)
    gross: Fraction
    limit: CostLimit | None


def cost(
    tariff: Tariff, timeline: Timeline, zone: tzinfo, switches: Sequence[TariffSwitch] = ()
) -> CostBreakdown:
    """The cost of ``timeline`` under ``tariff``; ``zone`` is the site's time zone, in which
    the tariff's times of day, days of week and dates are read. A timeline that ends now gives
    the running cost. ``switches``: the session's tariff changed while it ran (see
    ``_switched`` for how the tariffs combine)."""
    tariffs, from_us = _switched(tariff, timeline, switches)
    groups = _groups(reservation_slices(tariff, timeline, zone))
    first_session = len(groups)
    if len(tariffs) == 1:
        session = session_slices(tariff, timeline, zone)
    else:
        session = switched_slices(tariffs, from_us, timeline, zone)
    groups += _groups(session) or [[_empty_slice(timeline)]]
    cells = [
        cell
        for number, group in enumerate(groups)
        for cell in _period_cells(tariffs[group[0].tariff], number, group)
    ]
    cells += _fixed_cells(tariff, timeline, zone, first_session)
    limit = _limit(tariffs[-1], cells)
    if limit.kind is not CostType.NORMAL:
        cells.append(_Cell(len(groups) - 1, Component.COST_LIMIT, limit.net, limit.gross))
    cells.sort(key=lambda c: (c.period, ORDER.index(c.component)))
    found = _assemble(tariff, timeline, groups, cells, limit, tariffs=tariffs)
    if len(tariffs) == 1:
        return found
    named = tuple(
        replace(period, tariff_id=tariffs[group[0].tariff].tariff_id)
        for period, group in zip(found.periods, groups, strict=True)
    )
    return replace(found, periods=named)


def _switched(
    tariff: Tariff, line: Timeline, switches: Sequence[TariffSwitch]
) -> tuple[list[Tariff], list[int]]:
    """The session's tariffs in order and where each starts pricing (microseconds from the
    start). Rules of a change: the tariff in force prices what happens in its stretch, its
    conditions on duration, charging and idle time and energy counting from the session's
    start; the fixed fee (and the reservation) are the first tariff's, decided at the start;
    the minimum and maximum cost of the tariff in force at the end apply to the whole
    session. A change before the start prices from the start; one after ``until`` does not
    count yet. A change to another currency cannot be priced."""
    tariffs, from_us = [tariff], [0]
    end_us = micros(line.until - line.started_at)
    for switch in sorted(switches, key=lambda s: s.at):
        if switch.tariff.currency != tariff.currency:
            raise TariffError(
                f"tariff {switch.tariff.tariff_id}: currency {switch.tariff.currency.code}"
                f" differs from the session's {tariff.currency.code}"
            )
        at_us = max(micros(switch.at - line.started_at), 0)
        if at_us > end_us:
            break
        tariffs.append(switch.tariff)
        from_us.append(at_us)
    return tariffs, from_us


def _groups(slices: list[Slice]) -> list[list[Slice]]:
    """Consecutive slices with the same activity and price elements form one period."""
    return [list(run) for _, run in groupby(slices, key=_same_prices)]


def _same_prices(piece: Slice) -> tuple[Activity, int | None, int | None, int]:
    return piece.activity, piece.time_price, piece.energy_price, piece.tariff


def _empty_slice(line: Timeline) -> Slice:
    """The period of a session that has not lasted a moment yet (its fixed fee still counts)."""
    first = line.activity[0] if line.activity else None
    starts = first is not None and first.at == line.started_at
    activity = first.activity if first and starts else Activity.IDLE
    return Slice(0, 0, activity, None, None, Fraction(0), None, None)


def _period_cells(tariff: Tariff, number: int, group: list[Slice]) -> list[_Cell]:
    head = group[0]
    cells = []
    time_list = _time_list(tariff, head.activity)
    if time_list is not None and head.time_price is not None:
        element = time_list.prices[head.time_price]
        minutes = sum((s.duration_s for s in group), Fraction(0)) / 60
        price = AppliedPrice(TIME_OF[head.activity], head.time_price, element.price_per_minute)
        cells.append(_cell(tariff, number, price, time_list.tax_rates, minutes))
    if tariff.energy is not None and head.energy_price is not None:
        element_e = tariff.energy.prices[head.energy_price]
        kwh = sum((s.energy_wh for s in group), Fraction(0)) / 1000
        price = AppliedPrice(Component.ENERGY, head.energy_price, element_e.price_per_kwh)
        cells.append(_cell(tariff, number, price, tariff.energy.tax_rates, kwh))
    return cells


def _time_list(tariff: Tariff, activity: Activity) -> PriceList[TimePrice] | None:
    if activity is Activity.CHARGING:
        return tariff.charging_time
    if activity is Activity.IDLE:
        return tariff.idle_time
    return tariff.reservation_time


def _cell(
    tariff: Tariff, period: int, price: AppliedPrice, rates: tuple[TaxRate, ...], quantity: Fraction
) -> _Cell:
    priced = Fraction(price.unit_price) * quantity
    factor = tax_factor(rates)
    net = priced / factor if tariff.prices_include_tax else priced
    taxes = {rate: net * share for rate, share in tax_shares(rates)}
    return _Cell(period, price.component, net, net * factor, taxes, price)


def _fixed_cells(tariff: Tariff, line: Timeline, zone: tzinfo, first_session: int) -> list[_Cell]:
    cells = []
    if tariff.fixed_fee is not None:
        local = line.started_at.astimezone(zone)
        index = first_fixed(tariff.fixed_fee.prices, local, line.context)
        if index is not None:
            price = AppliedPrice(Component.FIXED, index, tariff.fixed_fee.prices[index].price)
            cells.append(
                _cell(tariff, first_session, price, tariff.fixed_fee.tax_rates, Fraction(1))
            )
    if tariff.reservation_fixed is not None and line.reservation is not None:
        local = line.reservation.start.astimezone(zone)
        index = first_fixed(tariff.reservation_fixed.prices, local, line.context)
        if index is not None:
            amount = tariff.reservation_fixed.prices[index].price
            price = AppliedPrice(Component.RESERVATION_FIXED, index, amount)
            rates = tariff.reservation_fixed.tax_rates
            cells.append(_cell(tariff, 0, price, rates, Fraction(1)))
    return cells


def _limit(tariff: Tariff, cells: Sequence[_Cell]) -> _Limit:
    """Whether min_cost or max_cost replaces the sum, decided on the amount excluding tax."""
    net = sum((c.net for c in cells), Fraction(0))
    gross = sum((c.gross for c in cells), Fraction(0))
    for kind, limit in ((CostType.MAX_COST, tariff.max_cost), (CostType.MIN_COST, tariff.min_cost)):
        if limit is None:
            continue
        limit_net, limit_gross = limit.figures()
        if (kind is CostType.MAX_COST and net > limit_net) or (
            kind is CostType.MIN_COST and net < limit_net
        ):
            return _Limit(kind, limit_net - net, limit_gross - gross, limit)
    return _Limit(CostType.NORMAL, Fraction(0), Fraction(0), None)


def _assemble(
    tariff: Tariff,
    line: Timeline,
    groups: list[list[Slice]],
    cells: list[_Cell],
    limit: _Limit,
    *,
    tariffs: Sequence[Tariff],
) -> CostBreakdown:
    currency = tariff.currency
    nets = apportion([c.net for c in cells], currency.minor_units)
    grosses = apportion([c.gross for c in cells], currency.minor_units)
    for cell, net, gross in zip(cells, nets, grosses, strict=True):
        cell.net_shown, cell.gross_shown = net, gross
    total_net, total_gross = sum(nets, Decimal(0)), sum(grosses, Decimal(0))
    by_period: list[list[_Cell]] = [[] for _ in groups]
    for cell in cells:
        by_period[cell.period].append(cell)
    periods = tuple(
        _period(line, group, mine, currency) for group, mine in zip(groups, by_period, strict=True)
    )
    periods = _with_volumes(line, groups, periods)
    return CostBreakdown(
        tariff_id=tariff.tariff_id,
        tariff_version=tariff.version,
        currency=currency,
        type_of_cost=limit.kind,
        total_excl_tax=Money(total_net, currency),
        total_incl_tax=Money(total_gross, currency),
        components=_components(tariffs, cells),
        taxes=_taxes(cells, limit, total_gross - total_net, currency),
        periods=periods,
        usage=_usage(periods),
        priced_until=line.until,
        stop_register_unknown=not line.stop_register_known,
    )


def _components(tariffs: Sequence[Tariff], cells: list[_Cell]) -> tuple[Amount, ...]:
    """One amount per component the session's tariffs price (and the cost limit, when it
    applied)."""
    shown = {c.component for c in cells}
    for tariff in tariffs:
        listed = {
            Component.ENERGY: tariff.energy,
            Component.CHARGING_TIME: tariff.charging_time,
            Component.IDLE_TIME: tariff.idle_time,
            Component.FIXED: tariff.fixed_fee,
            Component.RESERVATION_TIME: tariff.reservation_time,
            Component.RESERVATION_FIXED: tariff.reservation_fixed,
        }
        shown.update(c for c, price_list in listed.items() if price_list is not None)
    currency = tariffs[0].currency
    return tuple(
        _amount(component, [c for c in cells if c.component is component], currency)
        for component in ORDER
        if component in shown
    )


def _amount(component: Component, cells: list[_Cell], currency: Currency) -> Amount:
    net = sum((c.net_shown for c in cells), Decimal(0))
    gross = sum((c.gross_shown for c in cells), Decimal(0))
    return Amount(component, Money(net, currency), Money(gross, currency))


def _period(line: Timeline, group: list[Slice], cells: list[_Cell], currency: Currency) -> Period:
    """One period with its amounts; its energy and duration are filled in by _with_volumes."""
    powers = [s.power_w for s in group if s.power_w is not None]
    currents = [s.current_sum_a for s in group if s.current_sum_a is not None]
    return Period(
        start=instant(line.started_at, group[0].start_us),
        end=instant(line.started_at, group[-1].end_us),
        activity=group[0].activity,
        prices=tuple(price for c in cells if (price := c.price) is not None),
        energy_wh=Decimal(0),
        duration_s=Decimal(0),
        amounts=tuple(_amount(c.component, [c], currency) for c in cells),
        excl_tax=Money(sum((c.net_shown for c in cells), Decimal(0)), currency),
        incl_tax=Money(sum((c.gross_shown for c in cells), Decimal(0)), currency),
        min_power_w=min(powers, default=None),
        max_power_w=max(powers, default=None),
        min_current_sum_a=min(currents, default=None),
        max_current_sum_a=max(currents, default=None),
    )


def _with_volumes(
    line: Timeline, groups: list[list[Slice]], periods: tuple[Period, ...]
) -> tuple[Period, ...]:
    """Energy and duration per period, rounded so that they add up to the register difference
    and to the session's time."""
    energies = apportion(
        [sum((s.energy_wh for s in g), Fraction(0)) for g in groups], _wh_places(line)
    )
    durations = apportion(
        [Fraction(g[-1].end_us - g[0].start_us) / US for g in groups], DURATION_PLACES
    )
    return tuple(
        replace(period, energy_wh=wh, duration_s=span)
        for period, wh, span in zip(periods, energies, durations, strict=True)
    )


def _wh_places(line: Timeline) -> int:
    """Enough decimals that the periods' energy adds up to the register difference exactly."""
    exponents = [r.energy_wh.as_tuple().exponent for r in line.readings]
    return max(3, *(-e for e in exponents if isinstance(e, int)))


def _taxes(
    cells: list[_Cell], limit: _Limit, target: Decimal, currency: Currency
) -> tuple[TaxAmount, ...]:
    """The tax by rate, adding up to total incl. tax minus total excl. tax. When a cost limit
    replaced the sum, its own rates apply to it (the components' rates if it names none)."""
    weights: dict[TaxRate, Fraction] = {}
    if limit.limit is not None and limit.limit.tax_rates:
        net = limit.limit.figures()[0]
        weights = {rate: net * share for rate, share in tax_shares(limit.limit.tax_rates)}
    else:
        for cell in cells:
            for rate, tax in cell.taxes.items():
                weights[rate] = weights.get(rate, Fraction(0)) + tax
    rates = sorted(weights, key=lambda r: (r.stack, r.name, r.percent))
    amounts = apportion_to([weights[r] for r in rates], target, currency.minor_units)
    if amounts is None:
        if target == 0:
            return tuple(TaxAmount(r.name, r.percent, r.stack, Money.zero(currency)) for r in rates)
        return (TaxAmount("tax", None, 0, Money(target, currency)),)
    return tuple(
        TaxAmount(r.name, r.percent, r.stack, Money(a, currency))
        for r, a in zip(rates, amounts, strict=True)
    )


def _usage(periods: tuple[Period, ...]) -> Usage:
    def time_of(activity: Activity) -> Decimal:
        return sum((p.duration_s for p in periods if p.activity is activity), Decimal(0))

    return Usage(
        energy_wh=sum((p.energy_wh for p in periods), Decimal(0)),
        charging_time_s=time_of(Activity.CHARGING),
        idle_time_s=time_of(Activity.IDLE),
        reservation_time_s=time_of(Activity.RESERVED),
    )
