"""Limits a CSMS schedules for the site, as pure math: which schedule limits a connector when.

A ``LimitSchedule`` says the same whatever protocol brought it (``uplink/v16/
charging_profiles.py`` translates OCPP 1.6 charging profiles). Rules: within one purpose the
active schedule with the highest stack level wins; a session's own schedule replaces the
session default for its transaction; the charger maximum caps the whole charger. Limits in W
become A with the nominal voltage and phase count. Times are seconds since the epoch, passed
in; nothing here reads a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

DAY_S = 86400.0
WEEK_S = 7 * DAY_S


class Purpose(enum.Enum):
    CHARGER_MAX = "charger_max"  # caps the charger (or the site's identity) as a whole
    SESSION_DEFAULT = "session_default"  # for every session on the connector (0: on all)
    SESSION = "session"  # for one session only


class Kind(enum.Enum):
    ABSOLUTE = "absolute"  # periods count from ``start_s``
    RECURRING = "recurring"  # from ``start_s``, again every day or week
    RELATIVE = "relative"  # from the start of the session


class Recurrence(enum.Enum):
    DAILY = "daily"
    WEEKLY = "weekly"


class RateUnit(enum.Enum):
    AMPS = "A"
    WATTS = "W"


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: float  # offset from the schedule start
    limit: float  # in the schedule's unit
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class LimitSchedule:
    id: int
    connector: int  # the connector number on its identity; 0: the charger as a whole
    stack_level: int
    purpose: Purpose
    kind: Kind
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    recurrence: Recurrence | None = None
    start_s: float | None = None
    duration_s: float | None = None
    valid_from_s: float | None = None
    valid_to_s: float | None = None
    transaction_id: int | None = None  # the CSMS's transaction a session schedule belongs to

    def __post_init__(self) -> None:
        periods = self.periods
        if not periods or periods[0].start_s != 0 or list(periods) != sorted(periods, key=_start):
            raise ValueError("periods must start at 0 and be in order")
        if self.kind is Kind.RECURRING and self.recurrence is None:
            raise ValueError("a recurring schedule needs its recurrence (daily or weekly)")
        if self.kind is not Kind.RELATIVE and self.start_s is None:
            raise ValueError(f"an {self.kind.value} schedule needs its start")


def _start(period: SchedulePeriod) -> float:
    return period.start_s


@dataclass(frozen=True, slots=True)
class Electrical:
    voltage_v: float
    phases: int


def schedule_start_s(profile: LimitSchedule, at_s: float, tx_start_s: float | None) -> float | None:
    """When the schedule that covers ``at_s`` started (None: the profile does not apply)."""
    if profile.kind is Kind.RELATIVE:
        return tx_start_s if tx_start_s is not None else at_s
    assert profile.start_s is not None
    if profile.kind is Kind.ABSOLUTE:
        return profile.start_s if at_s >= profile.start_s else None
    cycle_s = DAY_S if profile.recurrence is Recurrence.DAILY else WEEK_S
    if at_s < profile.start_s:
        return None
    return at_s - (at_s - profile.start_s) % cycle_s


def limit_at(
    profile: LimitSchedule, at_s: float, tx_start_s: float | None
) -> SchedulePeriod | None:
    """The period in force at ``at_s``, or None when the profile is not active then."""
    if profile.valid_from_s is not None and at_s < profile.valid_from_s:
        return None
    if profile.valid_to_s is not None and at_s >= profile.valid_to_s:
        return None
    start_s = schedule_start_s(profile, at_s, tx_start_s)
    if start_s is None:
        return None
    offset_s = at_s - start_s
    if profile.duration_s is not None and offset_s >= profile.duration_s:
        return None
    current = [p for p in profile.periods if p.start_s <= offset_s]
    return current[-1] if current else None


def to_amps(period: SchedulePeriod, unit: RateUnit, electrical: Electrical) -> float:
    if unit is RateUnit.AMPS:
        return period.limit
    phases = period.phases or electrical.phases
    return period.limit / (electrical.voltage_v * phases)


def _winner(
    profiles: Iterable[LimitSchedule],
    at_s: float,
    tx_start_s: float | None,
    electrical: Electrical,
) -> tuple[float, LimitSchedule] | None:
    active = [(p, limit_at(p, at_s, tx_start_s)) for p in profiles]
    found = [(p, period) for p, period in active if period is not None]
    if not found:
        return None
    profile, period = max(found, key=lambda item: item[0].stack_level)
    return to_amps(period, profile.unit, electrical), profile


def connector_limit(
    profiles: Iterable[LimitSchedule],
    connector: int,
    at_s: float,
    transaction: tuple[int | None, float] | None,
    electrical: Electrical,
) -> tuple[float, LimitSchedule] | None:
    """The session's or the session default limit in A for one connector; ``transaction`` =
    (the CSMS's id, start) of the session running on it."""
    pool = list(profiles)
    tx_start_s = transaction[1] if transaction else None
    if transaction is not None:
        tx = [
            p
            for p in pool
            if p.purpose is Purpose.SESSION
            and p.connector == connector
            and p.transaction_id in (None, transaction[0])
        ]
        won = _winner(tx, at_s, tx_start_s, electrical)
        if won is not None:
            return won
    own = [p for p in pool if p.purpose is Purpose.SESSION_DEFAULT and p.connector == connector]
    won = _winner(own, at_s, tx_start_s, electrical)
    if won is not None:
        return won
    shared = [p for p in pool if p.purpose is Purpose.SESSION_DEFAULT and p.connector == 0]
    return _winner(shared, at_s, tx_start_s, electrical)


def charge_point_limit(
    profiles: Iterable[LimitSchedule], at_s: float, electrical: Electrical
) -> tuple[float, LimitSchedule] | None:
    cp_max = [p for p in profiles if p.purpose is Purpose.CHARGER_MAX]
    return _winner(cp_max, at_s, None, electrical)


def _change_points(profiles: Iterable[LimitSchedule], start_s: float, end_s: float) -> list[float]:
    points = {start_s}
    for profile in profiles:
        for bound in (profile.valid_from_s, profile.valid_to_s):
            if bound is not None:
                points.add(bound)
        base = profile.start_s if profile.start_s is not None else start_s
        cycle_s = DAY_S if profile.recurrence is Recurrence.DAILY else WEEK_S
        recurring = profile.kind is Kind.RECURRING
        cycles = int((end_s - base) // cycle_s) + 1 if recurring else 1
        first = max(0, int((start_s - base) // cycle_s)) if recurring else 0
        for n in range(first, max(first, cycles) + 1):
            origin = base + n * cycle_s if recurring else base
            points.update(origin + p.start_s for p in profile.periods)
            if profile.duration_s is not None:
                points.add(origin + profile.duration_s)
    return sorted(p for p in points if start_s <= p < end_s)


def composite(
    profiles: Iterable[LimitSchedule],
    connector: int,
    *,
    start_s: float,
    duration_s: float,
    transaction: tuple[int | None, float] | None,
    electrical: Electrical,
    unlimited_a: float,
) -> list[tuple[float, float]]:
    """(offset_s, limit_a) steps of the combined limit; ``unlimited_a`` where nothing limits."""
    pool = list(profiles)
    steps: list[tuple[float, float]] = []
    for at_s in _change_points(pool, start_s, start_s + duration_s):
        limits = [charge_point_limit(pool, at_s, electrical)]
        if connector != 0:
            limits.append(connector_limit(pool, connector, at_s, transaction, electrical))
        value = min([found[0] for found in limits if found is not None], default=unlimited_a)
        if not steps or steps[-1][1] != value:
            steps.append((at_s - start_s, value))
    return steps
