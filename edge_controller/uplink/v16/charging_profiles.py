"""OCPP 1.6 charging profiles (csChargingProfiles, camelCase) as the domain's limit schedules.

The uplink keeps the profiles as the CSMS sent them (its state file) and translates them here
whenever it reads them; the domain (``domain.limit_schedule``) decides which limit is in force.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from edge_controller.domain.limit_schedule import (
    Kind,
    LimitSchedule,
    Purpose,
    RateUnit,
    Recurrence,
    SchedulePeriod,
)

PURPOSES = {
    "ChargePointMaxProfile": Purpose.CHARGER_MAX,
    "TxDefaultProfile": Purpose.SESSION_DEFAULT,
    "TxProfile": Purpose.SESSION,
}
KINDS = {"Absolute": Kind.ABSOLUTE, "Recurring": Kind.RECURRING, "Relative": Kind.RELATIVE}
RECURRENCES = {"Daily": Recurrence.DAILY, "Weekly": Recurrence.WEEKLY}
UNITS = {"A": RateUnit.AMPS, "W": RateUnit.WATTS}


def _time(text: Any) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def _one_of(table: Mapping[str, Any], value: Any, field: str) -> Any:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"{field} {value!r} is not one of {sorted(table)}") from None


def parse(connector: int, raw: Mapping[str, Any]) -> LimitSchedule:
    """The schedule of a csChargingProfiles object for OCPP connector ``connector``. Raises
    ValueError (also KeyError, TypeError for missing or mistyped members)."""
    schedule = raw["chargingSchedule"]
    periods = tuple(
        SchedulePeriod(float(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
        for p in schedule["chargingSchedulePeriod"]
    )
    kind = _one_of(KINDS, raw["chargingProfileKind"], "chargingProfileKind")
    recurrency = raw.get("recurrencyKind")
    if kind is Kind.RECURRING and recurrency not in RECURRENCES:
        raise ValueError("a recurring profile needs recurrencyKind")
    duration = schedule.get("duration")
    return LimitSchedule(
        id=int(raw["chargingProfileId"]),
        connector=connector,
        stack_level=int(raw["stackLevel"]),
        purpose=_one_of(PURPOSES, raw["chargingProfilePurpose"], "chargingProfilePurpose"),
        kind=kind,
        unit=_one_of(UNITS, schedule["chargingRateUnit"], "chargingRateUnit"),
        periods=periods,
        recurrence=None if recurrency is None else RECURRENCES.get(recurrency),
        start_s=_time(schedule.get("startSchedule")),
        duration_s=None if duration is None else float(duration),
        valid_from_s=_time(raw.get("validFrom")),
        valid_to_s=_time(raw.get("validTo")),
        transaction_id=raw.get("transactionId"),
    )
