"""A session as the site records it (register readings with their times) turned into the
``Timeline`` that ``cost()`` prices, and the price a driver sees before starting.

Charging and idle time come from the register: between two readings the EV charged when the
register rose and was idle when it stayed (a paused, waiting or full EV draws nothing). The
activity changes at the earlier reading of the two, so a stretch is priced by what the register
did in it; time prices are per minute, and the readings are at most the sampling interval
apart, so this is exact to that interval at a change.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from edge_controller.domain.pricing.conditions import calendar_holds
from edge_controller.domain.pricing.money import Money
from edge_controller.domain.pricing.tariff import (
    Conditions,
    FixedConditions,
    PriceList,
    Tariff,
    tax_factor,
)
from edge_controller.domain.pricing.timeline import (
    Activity,
    ActivityChange,
    RegisterReading,
    Timeline,
)


@dataclass(frozen=True, slots=True)
class Reading:
    """A recorded register reading: UTC Unix seconds, Wh, and the power then if measured."""

    at_s: float
    energy_wh: int
    power_w: float | None = None


def moment(at_s: float) -> datetime:
    """A recorded time (UTC Unix seconds) as an aware datetime, to the microsecond."""
    return datetime.fromtimestamp(round(at_s, 6), UTC)


def recorded_timeline(
    started_at_s: float,
    until_s: float,
    readings: Sequence[Reading],
    *,
    stop_register_known: bool = True,
) -> Timeline:
    """The timeline of a recorded session from its start to ``until_s`` (its stop, or the
    last reading for a running cost); ``readings`` are the session's, in the order recorded.

    Energy is the register difference whatever the clock did. The session runs on its own
    clock: from the recorded start, each reading (and the stop) is as far after the one
    recorded before it as the site's clock moved forward meanwhile; a clock stepped back
    counts as no time, so nothing is counted twice, a stop timed before the start still
    bills its energy, and the cost of what was already priced never changes. A register that
    steps back keeps the value before (the recorder keeps it so)."""
    start = moment(started_at_s)
    times = _session_times(start, [started_at_s, *(r.at_s for r in readings), until_s])
    kept: list[RegisterReading] = []
    for r, at in zip(readings, times[1:-1], strict=True):
        energy = Decimal(r.energy_wh)
        if kept and energy < kept[-1].energy_wh:
            energy = kept[-1].energy_wh
        power = None if r.power_w is None else Decimal(str(round(r.power_w, 3)))
        kept.append(RegisterReading(at, energy, power))
    if not kept or kept[0].at != start:
        first = kept[0].energy_wh if kept else Decimal(0)
        kept.insert(0, RegisterReading(start, first))
    return Timeline(
        started_at=start,
        until=times[-1],
        readings=tuple(kept),
        activity=_activity(kept),
        stop_register_known=stop_register_known,
    )


def session_moment(started_at_s: float, readings: Sequence[Reading], at_s: float) -> datetime:
    """Where ``at_s`` (the site's clock), taken after ``readings`` were recorded (the session's
    so far, in the order recorded), falls on the session's own clock (``recorded_timeline``'s):
    after a clock stepped back in the session it is later than the site's time by the step, so
    a tariff change taken then never reprices what was priced before it."""
    start = moment(started_at_s)
    return _session_times(start, [started_at_s, *(r.at_s for r in readings), at_s])[-1]


def _session_times(start: datetime, recorded_s: Sequence[float]) -> list[datetime]:
    """The session's clock at each recorded time (in the order recorded): only forward steps
    of the site's clock count."""
    times, elapsed = [start], timedelta(0)
    for before_s, after_s in itertools.pairwise(recorded_s):
        elapsed += max(moment(after_s) - moment(before_s), timedelta(0))
        times.append(start + elapsed)
    return times


def _activity(readings: Sequence[RegisterReading]) -> tuple[ActivityChange, ...]:
    changes: list[ActivityChange] = []
    current: Activity | None = None
    for before, after in itertools.pairwise(readings):
        if after.at == before.at:
            continue  # across a clock step: no time to do anything in
        doing = Activity.CHARGING if after.energy_wh > before.energy_wh else Activity.IDLE
        if doing is not current:
            changes.append(ActivityChange(before.at, doing))
            current = doing
    return tuple(changes)


# --- the price before the start (AFIR ad hoc price) -------------------------------------------
@dataclass(frozen=True, slots=True)
class UnitPrice:
    """One price a session starting now pays, including tax, and from when on: after
    ``after_s`` seconds of the session (idle time: of idling), or from ``from_wh``."""

    amount: Decimal  # in the currency, to the tariff's precision (not rounded to cents)
    after_s: int | None = None
    from_wh: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AdHocPrice:
    """What the EU's AFIR asks to show before a start: per kWh, per minute charging, per
    session, per minute idle; None where the tariff has no such price now."""

    tariff_id: str
    tariff_version: int
    currency: str
    per_kwh: UnitPrice | None
    per_minute_charging: UnitPrice | None
    per_session: Money | None
    per_minute_idle: UnitPrice | None
    text: str | None  # the tariff's own description (first one; ``language`` picks)


def ad_hoc_price(tariff: Tariff, at: datetime, zone: tzinfo, language: str = "en") -> AdHocPrice:
    """The prices of ``tariff`` for a session starting at ``at`` (site time zone ``zone``):
    in each price list the first element whose calendar holds now; its other conditions
    (energy, duration) say from when it counts."""
    local = at.astimezone(zone)
    fixed = _fixed_now(tariff, local)
    return AdHocPrice(
        tariff_id=tariff.tariff_id,
        tariff_version=tariff.version,
        currency=tariff.currency.code,
        per_kwh=_unit_now(tariff, tariff.energy, local, "price_per_kwh"),
        per_minute_charging=_unit_now(tariff, tariff.charging_time, local, "price_per_minute"),
        per_session=fixed,
        per_minute_idle=_unit_now(tariff, tariff.idle_time, local, "price_per_minute"),
        text=_text(tariff, language),
    )


def _gross(tariff: Tariff, price: Decimal, price_list: PriceList[Any]) -> Decimal:
    if tariff.prices_include_tax or not price_list.tax_rates:
        return price
    factor = tax_factor(price_list.tax_rates)
    return (price * factor.numerator / factor.denominator).normalize()


def _unit_now(
    tariff: Tariff, price_list: PriceList[Any] | None, local: datetime, unit: str
) -> UnitPrice | None:
    if price_list is None:
        return None
    for element in price_list.prices:
        cond = getattr(element, "conditions", None)
        if isinstance(cond, Conditions) and not calendar_holds(cond.calendar, local):
            continue
        amount = _gross(tariff, getattr(element, unit), price_list)
        if not isinstance(cond, Conditions):
            return UnitPrice(amount)
        after = cond.min_idle_time_s or cond.min_charging_time_s or cond.min_time_s
        return UnitPrice(amount, after, cond.min_energy_wh)
    return None


def _fixed_now(tariff: Tariff, local: datetime) -> Money | None:
    fees = tariff.fixed_fee
    if fees is None:
        return None
    for element in fees.prices:
        cond = element.conditions
        if isinstance(cond, FixedConditions) and not calendar_holds(cond.calendar, local):
            continue
        gross = _gross(tariff, element.price, fees)
        return Money(gross.quantize(tariff.currency.quantum), tariff.currency)
    return None


def _text(tariff: Tariff, language: str) -> str | None:
    for description in tariff.descriptions:
        if description.language in (language, None):
            return description.text
    return tariff.descriptions[0].text if tariff.descriptions else None
