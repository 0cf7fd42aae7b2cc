"""The tariff model: OCPP 2.1's TariffType in this project's names (mapping in the package doc)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any, Generic, TypeVar

from edge_controller.domain.pricing.money import Currency


class TariffError(ValueError):
    """A tariff that cannot be priced with; the message names the field and the reason."""


class Weekday(enum.IntEnum):
    """Days as ``date.weekday()`` numbers them."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


class EvseKind(enum.Enum):
    AC = "AC"
    DC = "DC"


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax on a price: ``percent`` of the base; ``stack`` 0 taxes the net price, stack 1 the net
    price plus the stack-0 taxes, and so on (one name per line on a receipt, e.g. "VAT")."""

    name: str
    percent: Decimal
    stack: int = 0


@dataclass(frozen=True, slots=True)
class Calendar:
    """When, in the site's local time, a price applies. Unset fields do not restrict.

    The time-of-day window is [start, end) and wraps past midnight when end < start; an end of
    00:00 means the end of the day; equal start and end mean the whole day."""

    start_time_of_day: time | None = None
    end_time_of_day: time | None = None
    days_of_week: frozenset[Weekday] | None = None
    valid_from_date: date | None = None  # inclusive
    valid_to_date: date | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Conditions:
    """When an energy or time price applies; all set fields must hold (logical AND).

    Minimums are inclusive, maximums exclusive. Energy counts from the start of the session;
    ``*_time_s`` count the session's duration, its accumulated charging time and its
    accumulated idle time. Current is the sum over the phases."""

    calendar: Calendar = field(default_factory=Calendar)
    evse_kind: EvseKind | None = None
    min_energy_wh: Decimal | None = None
    max_energy_wh: Decimal | None = None
    min_current_a: Decimal | None = None
    max_current_a: Decimal | None = None
    min_power_w: Decimal | None = None
    max_power_w: Decimal | None = None
    min_time_s: int | None = None
    max_time_s: int | None = None
    min_charging_time_s: int | None = None
    max_charging_time_s: int | None = None
    min_idle_time_s: int | None = None
    max_idle_time_s: int | None = None


@dataclass(frozen=True, slots=True)
class FixedConditions:
    """When a fixed price applies; evaluated once, when the session (or reservation) starts."""

    calendar: Calendar = field(default_factory=Calendar)
    evse_kind: EvseKind | None = None
    payment_brand: str | None = None
    payment_recognition: str | None = None


@dataclass(frozen=True, slots=True)
class EnergyPrice:
    price_per_kwh: Decimal
    conditions: Conditions | None = None


@dataclass(frozen=True, slots=True)
class TimePrice:
    price_per_minute: Decimal
    conditions: Conditions | None = None


@dataclass(frozen=True, slots=True)
class FixedPrice:
    price: Decimal
    conditions: FixedConditions | None = None


Element = TypeVar("Element", EnergyPrice, TimePrice, FixedPrice)


@dataclass(frozen=True, slots=True)
class PriceList(Generic[Element]):
    """The price elements of one component, in order: the first whose conditions hold applies."""

    prices: tuple[Element, ...]
    tax_rates: tuple[TaxRate, ...] = ()


@dataclass(frozen=True, slots=True)
class CostLimit:
    """A minimum or maximum cost of a session; at least one of the two figures is given, the
    other follows from ``tax_rates``."""

    excl_tax: Decimal | None = None
    incl_tax: Decimal | None = None
    tax_rates: tuple[TaxRate, ...] = ()

    def figures(self) -> tuple[Fraction, Fraction]:
        """(excluding tax, including tax), exact."""
        factor = tax_factor(self.tax_rates)
        excl = None if self.excl_tax is None else Fraction(self.excl_tax)
        incl = None if self.incl_tax is None else Fraction(self.incl_tax)
        if excl is None:
            assert incl is not None  # checked when the tariff was made
            return incl / factor, incl
        return excl, excl * factor if incl is None else incl


@dataclass(frozen=True, slots=True)
class Description:
    """A text about the tariff for people, in one language (RFC 5646 tag, e.g. "de")."""

    text: str
    language: str | None = None
    format: str = "UTF8"


@dataclass(frozen=True, slots=True)
class Tariff:
    """What a session costs. Prices are in ``currency`` per unit and exclude tax unless
    ``prices_include_tax`` (the tax rates are then already in the prices)."""

    tariff_id: str
    currency: Currency
    version: int = 1
    energy: PriceList[EnergyPrice] | None = None
    charging_time: PriceList[TimePrice] | None = None
    idle_time: PriceList[TimePrice] | None = None
    fixed_fee: PriceList[FixedPrice] | None = None
    reservation_time: PriceList[TimePrice] | None = None
    reservation_fixed: PriceList[FixedPrice] | None = None
    min_cost: CostLimit | None = None
    max_cost: CostLimit | None = None
    descriptions: tuple[Description, ...] = ()
    valid_from: datetime | None = None
    prices_include_tax: bool = False

    def __post_init__(self) -> None:
        _check_tariff(self)

    def time_of_day_boundaries(self) -> frozenset[time]:
        """Every time of day at which a price of this tariff may start or stop applying."""
        found: set[time] = set()
        for cal in self._calendars():
            found.update(t for t in (cal.start_time_of_day, cal.end_time_of_day) if t)
        return frozenset(found)

    def _calendars(self) -> list[Calendar]:
        lists = (self.energy, self.charging_time, self.idle_time, self.reservation_time)
        fixed = (self.fixed_fee, self.reservation_fixed)
        found = [p.conditions.calendar for pl in lists if pl for p in pl.prices if p.conditions]
        found += [p.conditions.calendar for pl in fixed if pl for p in pl.prices if p.conditions]
        return found


@dataclass(frozen=True, slots=True)
class TariffSwitch:
    """A running session's tariff changed (OCPP 2.1 ChangeTransactionTariff) at ``at``:
    ``tariff`` prices what happens from then on."""

    at: datetime
    tariff: Tariff


@cache  # a tariff has a handful of rate sets; a session asks for them per period
def tax_factor(rates: tuple[TaxRate, ...]) -> Fraction:
    """Net price times this factor is the price including every tax (stacks compound)."""
    factor = Fraction(1)
    for stack in sorted({r.stack for r in rates}):
        factor *= (
            1 + sum((Fraction(r.percent) for r in rates if r.stack == stack), Fraction(0)) / 100
        )
    return factor


@cache
def tax_shares(rates: tuple[TaxRate, ...]) -> tuple[tuple[TaxRate, Fraction], ...]:
    """Each rate's tax on a net amount of 1 (their sum is ``tax_factor(rates) - 1``)."""
    shares: list[tuple[TaxRate, Fraction]] = []
    base = Fraction(1)
    for stack in sorted({r.stack for r in rates}):
        level = [r for r in rates if r.stack == stack]
        shares += [(rate, base * Fraction(rate.percent) / 100) for rate in level]
        base *= 1 + sum((Fraction(r.percent) for r in level), Fraction(0)) / 100
    return tuple(shares)


def _check_tariff(tariff: Tariff) -> None:
    if not tariff.tariff_id:
        raise TariffError("tariff_id: empty")
    if tariff.version < 1:
        raise TariffError(f"version: {tariff.version} is not a version number (1, 2, ...)")
    named = {
        "energy": tariff.energy,
        "charging_time": tariff.charging_time,
        "idle_time": tariff.idle_time,
        "fixed_fee": tariff.fixed_fee,
        "reservation_time": tariff.reservation_time,
        "reservation_fixed": tariff.reservation_fixed,
    }
    for name, price_list in named.items():
        if price_list is not None:
            _check_list(name, price_list)
    for name, limit in (("min_cost", tariff.min_cost), ("max_cost", tariff.max_cost)):
        if limit is not None:
            _check_limit(name, limit)
    low, high = tariff.min_cost, tariff.max_cost
    if low and high and low.figures()[0] > high.figures()[0]:
        raise TariffError("min_cost: above max_cost (both compared excluding tax)")
    if tariff.valid_from is not None and tariff.valid_from.utcoffset() is None:
        raise TariffError("valid_from: needs a time zone (an offset or UTC)")


def _check_list(name: str, price_list: PriceList[Any]) -> None:
    if not isinstance(price_list.prices, tuple) or not isinstance(price_list.tax_rates, tuple):
        raise TariffError(f"{name}: prices and tax_rates are tuples")
    if not price_list.prices:
        raise TariffError(f"{name}.prices: empty (leave the component out instead)")
    _check_taxes(f"{name}.tax_rates", price_list.tax_rates)
    for number, element in enumerate(price_list.prices):
        where = f"{name}.prices[{number}]"
        value = _unit_price(element)
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            raise TariffError(f"{where}: price {value!r} is not a Decimal of at least 0")
        if isinstance(element.conditions, Conditions):
            _check_conditions(f"{where}.conditions", element.conditions)
        elif element.conditions is not None:
            _check_calendar(f"{where}.conditions", element.conditions.calendar)


def _unit_price(element: EnergyPrice | TimePrice | FixedPrice) -> Decimal:
    if isinstance(element, EnergyPrice):
        return element.price_per_kwh
    if isinstance(element, TimePrice):
        return element.price_per_minute
    return element.price


def _check_taxes(where: str, rates: tuple[TaxRate, ...]) -> None:
    for number, rate in enumerate(rates):
        if (
            not isinstance(rate.percent, Decimal)
            or not rate.percent.is_finite()
            or rate.percent < 0
        ):
            raise TariffError(f"{where}[{number}]: percent {rate.percent!r} is not a Decimal >= 0")
        if rate.stack < 0:
            raise TariffError(f"{where}[{number}]: stack {rate.stack} below 0")
    if len(set(rates)) != len(rates):
        raise TariffError(f"{where}: the same rate twice")


def _check_limit(where: str, limit: CostLimit) -> None:
    if limit.excl_tax is None and limit.incl_tax is None:
        raise TariffError(f"{where}: needs excl_tax or incl_tax")
    for side in (limit.excl_tax, limit.incl_tax):
        if side is not None and (not isinstance(side, Decimal) or not side.is_finite() or side < 0):
            raise TariffError(f"{where}: {side!r} is not a Decimal of at least 0")
    _check_taxes(f"{where}.tax_rates", limit.tax_rates)


def _check_conditions(where: str, cond: Conditions) -> None:
    _check_calendar(where, cond.calendar)
    pairs = (
        ("energy_wh", cond.min_energy_wh, cond.max_energy_wh),
        ("current_a", cond.min_current_a, cond.max_current_a),
        ("power_w", cond.min_power_w, cond.max_power_w),
        ("time_s", cond.min_time_s, cond.max_time_s),
        ("charging_time_s", cond.min_charging_time_s, cond.max_charging_time_s),
        ("idle_time_s", cond.min_idle_time_s, cond.max_idle_time_s),
    )
    for unit, low, high in pairs:
        for bound, value in (("min", low), ("max", high)):
            if value is not None and (isinstance(value, float) or value < 0):
                raise TariffError(f"{where}: {bound}_{unit} {value!r} is not a number >= 0")
        if low is not None and high is not None and low >= high:
            raise TariffError(f"{where}: min_{unit} {low} not below max_{unit} {high}")


def _check_calendar(where: str, cal: Calendar) -> None:
    for name in ("start_time_of_day", "end_time_of_day"):
        value: time | None = getattr(cal, name)
        if value is not None and (value.second or value.microsecond or value.tzinfo):
            raise TariffError(f"{where}: {name} {value} is not a local hh:mm")
    if cal.days_of_week is not None and not cal.days_of_week:
        raise TariffError(f"{where}: days_of_week is empty (the price would never apply)")
    low, high = cal.valid_from_date, cal.valid_to_date
    if low is not None and high is not None and low >= high:
        raise TariffError(f"{where}: valid_from_date {low} not before valid_to_date {high}")
