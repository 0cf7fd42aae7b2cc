"""Whether a price element's conditions hold at a moment of a session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from fractions import Fraction

from edge_controller.domain.pricing.tariff import (
    Calendar,
    Conditions,
    EnergyPrice,
    FixedConditions,
    FixedPrice,
    TimePrice,
)
from edge_controller.domain.pricing.timeline import SessionContext

US = 1_000_000  # microseconds per second
DAY_US = 86_400 * US


@dataclass(frozen=True, slots=True)
class Moment:
    """What conditions look at. ``local`` is the site's wall-clock time; the durations count
    (in microseconds) from the start of the session, or of the reservation."""

    local: datetime
    elapsed_us: int
    charging_us: int
    idle_us: int
    energy_wh: Fraction
    power_w: Decimal | None
    current_sum_a: Decimal | None
    context: SessionContext


def first_applying(prices: Sequence[EnergyPrice | TimePrice], moment: Moment) -> int | None:
    """The index of the first element whose conditions hold, or None (that component is free)."""
    for number, element in enumerate(prices):
        if holds(element.conditions, moment):
            return number
    return None


def first_fixed(
    prices: Sequence[FixedPrice], local: datetime, context: SessionContext
) -> int | None:
    for number, element in enumerate(prices):
        if fixed_holds(element.conditions, local, context):
            return number
    return None


def holds(cond: Conditions | None, moment: Moment) -> bool:
    if cond is None:
        return True
    if not calendar_holds(cond.calendar, moment.local):
        return False
    if cond.evse_kind is not None and cond.evse_kind != moment.context.evse_kind:
        return False
    return (
        _within(moment.energy_wh, cond.min_energy_wh, cond.max_energy_wh)
        and _within(moment.current_sum_a, cond.min_current_a, cond.max_current_a)
        and _within(moment.power_w, cond.min_power_w, cond.max_power_w)
        and _within_s(moment.elapsed_us, cond.min_time_s, cond.max_time_s)
        and _within_s(moment.charging_us, cond.min_charging_time_s, cond.max_charging_time_s)
        and _within_s(moment.idle_us, cond.min_idle_time_s, cond.max_idle_time_s)
    )


def fixed_holds(cond: FixedConditions | None, local: datetime, context: SessionContext) -> bool:
    if cond is None:
        return True
    return (
        calendar_holds(cond.calendar, local)
        and (cond.evse_kind is None or cond.evse_kind == context.evse_kind)
        and (cond.payment_brand is None or cond.payment_brand == context.payment_brand)
        and (
            cond.payment_recognition is None
            or cond.payment_recognition == context.payment_recognition
        )
    )


def calendar_holds(cal: Calendar, local: datetime) -> bool:
    day = local.date()
    if cal.days_of_week is not None and day.weekday() not in cal.days_of_week:
        return False
    if cal.valid_from_date is not None and day < cal.valid_from_date:
        return False
    if cal.valid_to_date is not None and day >= cal.valid_to_date:
        return False
    return _in_window(cal.start_time_of_day, cal.end_time_of_day, local)


def _in_window(start: time | None, end: time | None, local: datetime) -> bool:
    begin_us = 0 if start is None else (start.hour * 3600 + start.minute * 60) * US
    end_us = DAY_US if end is None else ((end.hour * 3600 + end.minute * 60) * US or DAY_US)
    now_us = (local.hour * 3600 + local.minute * 60 + local.second) * US + local.microsecond
    if begin_us == end_us:
        return True
    if begin_us < end_us:
        return begin_us <= now_us < end_us
    return now_us >= begin_us or now_us < end_us


def _within(value: Fraction | Decimal | None, low: Decimal | None, high: Decimal | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:  # not measured: a condition on it cannot be shown to hold
        return False
    return (low is None or value >= low) and (high is None or value < high)


def _within_s(value_us: int, low_s: int | None, high_s: int | None) -> bool:
    return (low_s is None or value_us >= low_s * US) and (high_s is None or value_us < high_s * US)
