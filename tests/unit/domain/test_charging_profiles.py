"""Composite-schedule math for OCPP 1.6 smart charging (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from edge_controller.domain import charging_profiles as cp

SITE = cp.Electrical(voltage_v=230.0, phases=3)
T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC).timestamp()
START = "2026-11-27T00:00:00Z"


def raw(
    pid: int, purpose: str, level: int, periods: list[tuple[int, float]], **extra: Any
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": extra.pop("unit", "A"),
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods],
    }
    kind = extra.pop("kind", "Absolute")
    if kind != "Relative":
        schedule["startSchedule"] = extra.pop("start", START)
    if "duration" in extra:
        schedule["duration"] = extra.pop("duration")
    return {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }


def test_highest_stack_level_wins_within_a_purpose() -> None:
    low = cp.parse(1, raw(1, "TxDefaultProfile", 0, [(0, 16.0)]))
    high = cp.parse(1, raw(2, "TxDefaultProfile", 5, [(0, 10.0), (3600, 20.0)]))
    assert cp.connector_limit([low, high], 1, T0 + 60, None, SITE) == (10.0, high)
    assert cp.connector_limit([low, high], 1, T0 + 3700, None, SITE) == (20.0, high)


def test_tx_profile_replaces_default_only_for_its_transaction() -> None:
    default = cp.parse(0, raw(1, "TxDefaultProfile", 0, [(0, 16.0)]))
    tx = cp.parse(2, raw(2, "TxProfile", 0, [(0, 8.0)], transactionId=77))
    found = cp.connector_limit([default, tx], 2, T0, (77, T0), SITE)
    assert found is not None and found[0] == 8.0
    other = cp.connector_limit([default, tx], 2, T0, (78, T0), SITE)
    assert other is not None and other[1].id == 1


def test_power_limit_becomes_current_and_cp_max_caps() -> None:
    cap = cp.parse(0, raw(9, "ChargePointMaxProfile", 0, [(0, 22080.0)], unit="W"))
    found = cp.charge_point_limit([cap], T0, SITE)
    assert found is not None and found[0] == pytest.approx(32.0)
    one_phase = cp.ChargingProfile(
        id=3,
        connector=0,
        stack_level=0,
        purpose="ChargePointMaxProfile",
        kind="Absolute",
        unit="W",
        periods=(cp.SchedulePeriod(0, 2300.0, 1),),
        start_s=T0,
    )
    found = cp.charge_point_limit([one_phase], T0, SITE)
    assert found is not None and found[0] == pytest.approx(10.0)


def test_daily_recurring_profile_repeats_every_day() -> None:
    night = cp.parse(
        0,
        raw(
            4,
            "TxDefaultProfile",
            0,
            [(0, 32.0), (6 * 3600, 10.0)],
            kind="Recurring",
            recurrencyKind="Daily",
        ),
    )
    assert cp.connector_limit([night], 1, T0 + 86400 * 3 + 3600, None, SITE) == (32.0, night)
    assert cp.connector_limit([night], 1, T0 + 86400 * 3 + 7 * 3600, None, SITE) == (10.0, night)


def test_relative_profile_counts_from_the_transaction_start() -> None:
    ramp = cp.parse(1, raw(5, "TxProfile", 0, [(0, 6.0), (600, 16.0)], kind="Relative"))
    tx_start = T0 + 1000
    assert cp.connector_limit([ramp], 1, tx_start + 100, (1, tx_start), SITE) == (6.0, ramp)
    assert cp.connector_limit([ramp], 1, tx_start + 700, (1, tx_start), SITE) == (16.0, ramp)


def test_validity_and_duration_end_a_profile() -> None:
    short = cp.parse(
        0, raw(6, "TxDefaultProfile", 0, [(0, 10.0)], duration=600, validTo="2026-11-28T00:00:00Z")
    )
    assert cp.connector_limit([short], 1, T0 + 300, None, SITE) is not None
    assert cp.connector_limit([short], 1, T0 + 900, None, SITE) is None
    assert cp.connector_limit([short], 1, T0 - 10, None, SITE) is None


def test_composite_combines_cp_max_and_connector_limits() -> None:
    cap = cp.parse(0, raw(1, "ChargePointMaxProfile", 0, [(0, 20.0), (1800, 12.0)]))
    default = cp.parse(1, raw(2, "TxDefaultProfile", 0, [(0, 16.0)], duration=3600))
    steps = cp.composite(
        [cap, default],
        1,
        start_s=T0,
        duration_s=7200,
        transaction=None,
        electrical=SITE,
        unlimited_a=32.0,
    )
    assert steps == [(0.0, 16.0), (1800.0, 12.0)]
    open_ended = cp.composite(
        [default],
        1,
        start_s=T0,
        duration_s=7200,
        transaction=None,
        electrical=SITE,
        unlimited_a=32.0,
    )
    assert open_ended == [(0.0, 16.0), (3600.0, 32.0)]


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(ValueError, match="start at 0"):
        cp.parse(1, raw(1, "TxDefaultProfile", 0, [(10, 16.0)]))
    with pytest.raises(ValueError, match="recurrencyKind"):
        cp.parse(1, raw(1, "TxDefaultProfile", 0, [(0, 16.0)], kind="Recurring"))
