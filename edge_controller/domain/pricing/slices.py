"""Cuts a timeline into slices in which every price element that applies stays the same.

Times are microseconds from the start of the session (negative during a reservation); every
instant that comes from a datetime is a whole number of them, only the moment an energy
threshold is crossed between two readings is a fraction. Conditions are evaluated at the start
of a slice with what was known then: power, current and (for time prices) energy as of the
last register reading, so a later reading never changes the price of time already passed.
Energy between two readings is spread evenly over time, and an energy price changes exactly at
the Wh where its conditions say it does."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from edge_controller.domain.pricing.calendar import calendar_breaks
from edge_controller.domain.pricing.conditions import US, Moment, first_applying
from edge_controller.domain.pricing.tariff import Conditions, PriceList, Tariff
from edge_controller.domain.pricing.timeline import Activity, Timeline

ZERO = Fraction(0)
Micros = int | Fraction


@dataclass(frozen=True, slots=True)
class Slice:
    start_us: Micros
    end_us: Micros
    activity: Activity
    time_price: int | None  # index into the tariff's list for this activity
    energy_price: int | None  # index into tariff.energy
    energy_wh: Fraction
    power_w: Decimal | None
    current_sum_a: Decimal | None
    tariff: int = 0  # which of the session's tariffs prices it (0: the one it started with)

    @property
    def duration_s(self) -> Fraction:
        return Fraction(self.end_us - self.start_us) / US


def micros(span: timedelta) -> int:
    """A timedelta as whole microseconds (``total_seconds()`` would go through a float)."""
    return (span.days * 86_400 + span.seconds) * US + span.microseconds


def instant(origin: datetime, at_us: Micros) -> datetime:
    return origin + timedelta(microseconds=round(at_us))


@dataclass(frozen=True, slots=True)
class _Reading:
    at_us: int
    energy_wh: Fraction  # consumed since the start register
    power_w: Decimal | None
    current_sum_a: Decimal | None


class _Session:
    """The sweep over a session: running totals of charging and idle time as it goes."""

    def __init__(
        self, tariff: Tariff, line: Timeline, zone: tzinfo, cuts: Iterable[int] = ()
    ) -> None:
        self.tariff, self.line, self.zone = tariff, line, zone
        self.cuts = frozenset(cuts)  # where slices must end (a change of tariff)
        start_wh = line.readings[0].energy_wh
        self.readings = [
            _Reading(
                micros(r.at - line.started_at),
                Fraction(r.energy_wh - start_wh),
                r.power_w,
                r.current_sum_a,
            )
            for r in line.readings
        ]
        self.reading_us = [r.at_us for r in self.readings]
        self.change_us = [micros(c.at - line.started_at) for c in line.activity]
        conds = _conditions((tariff.energy, tariff.charging_time, tariff.idle_time))
        self.charging_marks = _marks_us(conds, "min_charging_time_s", "max_charging_time_s")
        self.idle_marks = _marks_us(conds, "min_idle_time_s", "max_idle_time_s")
        self.elapsed_marks = _marks_us(conds, "min_time_s", "max_time_s")
        energy_conds = _conditions((tariff.energy,))
        self.energy_marks = sorted(
            {
                Fraction(getattr(c, n))
                for c in energy_conds
                for n in ("min_energy_wh", "max_energy_wh")
                if getattr(c, n) is not None
            }
        )
        self.charging_us = 0
        self.idle_us = 0

    def slices(self) -> Iterator[Slice]:
        end_us = micros(self.line.until - self.line.started_at)
        points = {0, end_us, *self.reading_us, *self.change_us, *self.elapsed_marks, *self.cuts}
        breaks = calendar_breaks(
            self.line.started_at, self.line.until, self.zone, self.tariff.time_of_day_boundaries()
        )
        points.update(micros(b - self.line.started_at) for b in breaks)
        for start_us, stop_us in pairwise(sorted(p for p in points if 0 <= p <= end_us)):
            yield from self._segment(start_us, stop_us)
        if end_us == 0 and self._energy_at(0) != self._energy_from(0):
            yield from self._segment(0, 0)  # no time passed, but energy did (a clock step back)

    def _segment(self, start_us: int, stop_us: int) -> Iterator[Slice]:
        number = bisect.bisect_right(self.change_us, start_us) - 1
        activity = self.line.activity[number].activity if number >= 0 else Activity.IDLE
        held = self._held(start_us)
        local = instant(self.line.started_at, start_us).astimezone(self.zone)
        for low, high in pairwise(self._activity_cuts(activity, start_us, stop_us)):
            moment = Moment(
                local=local,
                elapsed_us=low,
                charging_us=self.charging_us,
                idle_us=self.idle_us,
                energy_wh=held.energy_wh if held else ZERO,
                power_w=held.power_w if held else None,
                current_sum_a=held.current_sum_a if held else None,
                context=self.line.context,
            )
            yield from self._pieces(activity, moment, low, high)
            if activity is Activity.CHARGING:
                self.charging_us += high - low
            else:
                self.idle_us += high - low

    def _held(self, at_us: int) -> _Reading | None:
        number = bisect.bisect_right(self.reading_us, at_us) - 1
        return self.readings[number] if number >= 0 else None

    def _activity_cuts(self, activity: Activity, start_us: int, stop_us: int) -> list[int]:
        """Where accumulated charging (or idle) time reaches a condition's threshold."""
        marks, done = (
            (self.charging_marks, self.charging_us)
            if activity is Activity.CHARGING
            else (self.idle_marks, self.idle_us)
        )
        inner = [start_us + m - done for m in marks if done < m < done + stop_us - start_us]
        return [start_us, *inner, stop_us]

    def _pieces(self, activity: Activity, moment: Moment, low: int, high: int) -> Iterator[Slice]:
        charging = activity is Activity.CHARGING
        time_list = self.tariff.charging_time if charging else self.tariff.idle_time
        time_price = first_applying(time_list.prices, moment) if time_list else None
        low_wh, high_wh = self._energy_from(low), self._energy_at(high)
        cuts: list[tuple[Micros, Fraction]] = [(low, low_wh)]
        for mark in self.energy_marks:
            if low_wh < mark < high_wh:
                cuts.append((low + (mark - low_wh) / (high_wh - low_wh) * (high - low), mark))
        cuts.append((high, high_wh))
        energy = self.tariff.energy
        for (start, start_wh), (stop, stop_wh) in pairwise(cuts):
            energy_price = None
            if energy is not None:
                at = moment if start_wh == moment.energy_wh else replace(moment, energy_wh=start_wh)
                energy_price = first_applying(energy.prices, at)
            yield Slice(
                start_us=start,
                end_us=stop,
                activity=activity,
                time_price=time_price,
                energy_price=energy_price,
                energy_wh=stop_wh - start_wh,
                power_w=moment.power_w,
                current_sum_a=moment.current_sum_a,
            )

    def _energy_from(self, at_us: Micros) -> Fraction:
        """Consumed energy at the start of a slice beginning at ``at_us``: at the session's
        start, before any step of the register there."""
        return self.readings[0].energy_wh if at_us == 0 else self._energy_at(at_us)

    def _energy_at(self, at_us: Micros) -> Fraction:
        """Consumed energy at ``at_us``, spread evenly between the readings around it (after
        every reading at that moment)."""
        number = bisect.bisect_right(self.reading_us, at_us) - 1
        if number < 0:
            return ZERO
        before = self.readings[number]
        if number + 1 == len(self.readings) or at_us == before.at_us:
            return before.energy_wh
        after = self.readings[number + 1]
        share = Fraction(at_us - before.at_us, after.at_us - before.at_us)
        return before.energy_wh + (after.energy_wh - before.energy_wh) * share


def session_slices(tariff: Tariff, line: Timeline, zone: tzinfo) -> list[Slice]:
    return list(_Session(tariff, line, zone).slices())


def switched_slices(
    tariffs: Sequence[Tariff], from_us: Sequence[int], line: Timeline, zone: tzinfo
) -> list[Slice]:
    """The slices of a session whose tariff changed: ``tariffs[k]`` prices from ``from_us[k]``
    (``from_us[0]`` is 0) until the next one. Each tariff sweeps the whole session, so its
    conditions on duration, charging and idle time count from the session's start; its slices
    in its own stretch are kept, marked with its place."""
    found: list[Slice] = []
    last = len(tariffs) - 1
    for number, tariff in enumerate(tariffs):
        low = from_us[number]
        high = from_us[number + 1] if number < last else None
        for piece in _Session(tariff, line, zone, from_us[1:]).slices():
            if low <= piece.start_us and (high is None or piece.start_us < high):
                found.append(replace(piece, tariff=number))
    return sorted(found, key=lambda p: (p.start_us, p.end_us))


def reservation_slices(tariff: Tariff, line: Timeline, zone: tzinfo) -> list[Slice]:
    """The reservation before the session, priced by ``reservation_time`` (no energy)."""
    span = line.reservation
    if span is None or span.start == span.end:
        return []
    origin = line.started_at
    start_us, end_us = micros(span.start - origin), micros(span.end - origin)
    prices = tariff.reservation_time
    marks = _marks_us(_conditions((prices,)), "min_time_s", "max_time_s")
    points = {start_us, end_us, *(start_us + m for m in marks)}
    breaks = calendar_breaks(span.start, span.end, zone, tariff.time_of_day_boundaries())
    points.update(micros(b - origin) for b in breaks)
    slices = []
    for low, high in pairwise(sorted(p for p in points if start_us <= p <= end_us)):
        moment = _reservation_moment(line, zone, low, low - start_us)
        index = first_applying(prices.prices, moment) if prices else None
        slices.append(Slice(low, high, Activity.RESERVED, index, None, ZERO, None, None))
    return slices


def _reservation_moment(line: Timeline, zone: tzinfo, at_us: int, held_us: int) -> Moment:
    return Moment(
        local=instant(line.started_at, at_us).astimezone(zone),
        elapsed_us=held_us,
        charging_us=0,
        idle_us=0,
        energy_wh=ZERO,
        power_w=None,
        current_sum_a=None,
        context=line.context,
    )


def _conditions(lists: Iterable[PriceList[Any] | None]) -> list[Conditions]:
    return [
        element.conditions
        for price_list in lists
        if price_list is not None
        for element in price_list.prices
        if isinstance(element.conditions, Conditions)
    ]


def _marks_us(conds: Iterable[Conditions], *names: str) -> list[int]:
    """The distinct thresholds (in seconds) named ``names`` in ``conds``, in microseconds."""
    found = {getattr(c, n) * US for c in conds for n in names if getattr(c, n) is not None}
    return sorted(found)
