"""OCPP 1.6 smart charging as pure math: which profile limits a connector at a given time.

Rules (OCPP 1.6 section 3.13): within one purpose the active profile with the highest stack level
wins; a TxProfile replaces the TxDefaultProfile for its transaction; the ChargePointMaxProfile
caps the whole charge point. Limits in W become A with the nominal voltage and phase count.
Times are seconds since the epoch, passed in; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
Purpose = Literal["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: float  # offset from the schedule start
    limit: float  # in the profile's unit
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    connector: int  # 0: the charge point as a whole
    stack_level: int
    purpose: Purpose
    kind: Literal["Absolute", "Recurring", "Relative"]
    unit: Literal["A", "W"]
    periods: tuple[SchedulePeriod, ...]
    recurrency: Literal["Daily", "Weekly"] | None = None
    start_s: float | None = None
    duration_s: float | None = None
    valid_from_s: float | None = None
    valid_to_s: float | None = None
    transaction_id: int | None = None


@dataclass(frozen=True, slots=True)
class Electrical:
    voltage_v: float
    phases: int


def _time(text: Any) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def parse(connector: int, raw: Mapping[str, Any]) -> ChargingProfile:
    """A profile from an OCPP csChargingProfiles object (camelCase). Raises ValueError."""
    schedule = raw["chargingSchedule"]
    periods = tuple(
        SchedulePeriod(float(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
        for p in schedule["chargingSchedulePeriod"]
    )
    if not periods or periods[0].start_s != 0 or list(periods) != sorted(periods, key=_start):
        raise ValueError("periods must start at 0 and be in order")
    kind = raw["chargingProfileKind"]
    if kind == "Recurring" and raw.get("recurrencyKind") not in ("Daily", "Weekly"):
        raise ValueError("a recurring profile needs recurrencyKind")
    start_s = _time(schedule.get("startSchedule"))
    if kind in ("Absolute", "Recurring") and start_s is None:
        raise ValueError(f"an {kind} profile needs startSchedule")
    duration = schedule.get("duration")
    return ChargingProfile(
        id=int(raw["chargingProfileId"]),
        connector=connector,
        stack_level=int(raw["stackLevel"]),
        purpose=raw["chargingProfilePurpose"],
        kind=kind,
        unit=schedule["chargingRateUnit"],
        periods=periods,
        recurrency=raw.get("recurrencyKind"),
        start_s=start_s,
        duration_s=None if duration is None else float(duration),
        valid_from_s=_time(raw.get("validFrom")),
        valid_to_s=_time(raw.get("validTo")),
        transaction_id=raw.get("transactionId"),
    )


def _start(period: SchedulePeriod) -> float:
    return period.start_s


def schedule_start_s(
    profile: ChargingProfile, at_s: float, tx_start_s: float | None
) -> float | None:
    """When the schedule that covers ``at_s`` started (None: the profile does not apply)."""
    if profile.kind == "Relative":
        return tx_start_s if tx_start_s is not None else at_s
    assert profile.start_s is not None
    if profile.kind == "Absolute":
        return profile.start_s if at_s >= profile.start_s else None
    cycle_s = DAY_S if profile.recurrency == "Daily" else WEEK_S
    if at_s < profile.start_s:
        return None
    return at_s - (at_s - profile.start_s) % cycle_s


def limit_at(
    profile: ChargingProfile, at_s: float, tx_start_s: float | None
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


def to_amps(period: SchedulePeriod, unit: str, electrical: Electrical) -> float:
    if unit == "A":
        return period.limit
    phases = period.phases or electrical.phases
    return period.limit / (electrical.voltage_v * phases)


def _winner(
    profiles: Iterable[ChargingProfile],
    at_s: float,
    tx_start_s: float | None,
    electrical: Electrical,
) -> tuple[float, ChargingProfile] | None:
    active = [(p, limit_at(p, at_s, tx_start_s)) for p in profiles]
    found = [(p, period) for p, period in active if period is not None]
    if not found:
        return None
    profile, period = max(found, key=lambda item: item[0].stack_level)
    return to_amps(period, profile.unit, electrical), profile


def connector_limit(
    profiles: Iterable[ChargingProfile],
    connector: int,
    at_s: float,
    transaction: tuple[int | None, float] | None,
    electrical: Electrical,
) -> tuple[float, ChargingProfile] | None:
    """The Tx or TxDefault limit in A for one connector; ``transaction`` = (id, start)."""
    pool = list(profiles)
    tx_start_s = transaction[1] if transaction else None
    if transaction is not None:
        tx = [
            p
            for p in pool
            if p.purpose == "TxProfile"
            and p.connector == connector
            and p.transaction_id in (None, transaction[0])
        ]
        won = _winner(tx, at_s, tx_start_s, electrical)
        if won is not None:
            return won
    own = [p for p in pool if p.purpose == "TxDefaultProfile" and p.connector == connector]
    won = _winner(own, at_s, tx_start_s, electrical)
    if won is not None:
        return won
    shared = [p for p in pool if p.purpose == "TxDefaultProfile" and p.connector == 0]
    return _winner(shared, at_s, tx_start_s, electrical)


def charge_point_limit(
    profiles: Iterable[ChargingProfile], at_s: float, electrical: Electrical
) -> tuple[float, ChargingProfile] | None:
    cp_max = [p for p in profiles if p.purpose == "ChargePointMaxProfile"]
    return _winner(cp_max, at_s, None, electrical)


def _change_points(
    profiles: Iterable[ChargingProfile], start_s: float, end_s: float
) -> list[float]:
    points = {start_s}
    for profile in profiles:
        for bound in (profile.valid_from_s, profile.valid_to_s):
            if bound is not None:
                points.add(bound)
        base = profile.start_s if profile.start_s is not None else start_s
        cycle_s = DAY_S if profile.recurrency == "Daily" else WEEK_S
        cycles = int((end_s - base) // cycle_s) + 1 if profile.kind == "Recurring" else 1
        first = max(0, int((start_s - base) // cycle_s)) if profile.kind == "Recurring" else 0
        for n in range(first, max(first, cycles) + 1):
            origin = base + n * cycle_s if profile.kind == "Recurring" else base
            points.update(origin + p.start_s for p in profile.periods)
            if profile.duration_s is not None:
                points.add(origin + profile.duration_s)
    return sorted(p for p in points if start_s <= p < end_s)


def composite(
    profiles: Iterable[ChargingProfile],
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
