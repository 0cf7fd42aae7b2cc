"""OCPP 1.6 charging profiles as limit schedules, and the domain's composite-schedule math
on them (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from edge_controller.domain import limit_schedule as cp
from edge_controller.uplink.v16.charging_profiles import parse

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
    low = parse(1, raw(1, "TxDefaultProfile", 0, [(0, 16.0)]))
    high = parse(1, raw(2, "TxDefaultProfile", 5, [(0, 10.0), (3600, 20.0)]))
    assert cp.connector_limit([low, high], 1, T0 + 60, None, SITE) == (10.0, high)
    assert cp.connector_limit([low, high], 1, T0 + 3700, None, SITE) == (20.0, high)


def test_tx_profile_replaces_default_only_for_its_transaction() -> None:
    default = parse(0, raw(1, "TxDefaultProfile", 0, [(0, 16.0)]))
    tx = parse(2, raw(2, "TxProfile", 0, [(0, 8.0)], transactionId=77))
    found = cp.connector_limit([default, tx], 2, T0, (77, T0), SITE)
    assert found is not None and found[0] == 8.0
    other = cp.connector_limit([default, tx], 2, T0, (78, T0), SITE)
    assert other is not None and other[1].id == 1


def test_power_limit_becomes_current_and_cp_max_caps() -> None:
    cap = parse(0, raw(9, "ChargePointMaxProfile", 0, [(0, 22080.0)], unit="W"))
    found = cp.charge_point_limit([cap], T0, SITE)
    assert found is not None and found[0] == pytest.approx(32.0)
    one_phase = cp.LimitSchedule(
        id=3,
        connector=0,
        stack_level=0,
        purpose=cp.Purpose.CHARGER_MAX,
        kind=cp.Kind.ABSOLUTE,
        unit=cp.RateUnit.WATTS,
        periods=(cp.SchedulePeriod(0, 2300.0, 1),),
        start_s=T0,
    )
    found = cp.charge_point_limit([one_phase], T0, SITE)
    assert found is not None and found[0] == pytest.approx(10.0)


def test_daily_recurring_profile_repeats_every_day() -> None:
    night = parse(
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
    ramp = parse(1, raw(5, "TxProfile", 0, [(0, 6.0), (600, 16.0)], kind="Relative"))
    tx_start = T0 + 1000
    assert cp.connector_limit([ramp], 1, tx_start + 100, (1, tx_start), SITE) == (6.0, ramp)
    assert cp.connector_limit([ramp], 1, tx_start + 700, (1, tx_start), SITE) == (16.0, ramp)


def test_validity_and_duration_end_a_profile() -> None:
    short = parse(
        0, raw(6, "TxDefaultProfile", 0, [(0, 10.0)], duration=600, validTo="2026-11-28T00:00:00Z")
    )
    assert cp.connector_limit([short], 1, T0 + 300, None, SITE) is not None
    assert cp.connector_limit([short], 1, T0 + 900, None, SITE) is None
    assert cp.connector_limit([short], 1, T0 - 10, None, SITE) is None


def test_composite_combines_cp_max_and_connector_limits() -> None:
    cap = parse(0, raw(1, "ChargePointMaxProfile", 0, [(0, 20.0), (1800, 12.0)]))
    default = parse(1, raw(2, "TxDefaultProfile", 0, [(0, 16.0)], duration=3600))
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
        parse(1, raw(1, "TxDefaultProfile", 0, [(10, 16.0)]))
    with pytest.raises(ValueError, match="recurrencyKind"):
        parse(1, raw(1, "TxDefaultProfile", 0, [(0, 16.0)], kind="Recurring"))
    with pytest.raises(ValueError, match="chargingProfilePurpose 'TxMaxProfile'"):
        parse(1, raw(1, "TxMaxProfile", 0, [(0, 16.0)]))


def test_a_1_6_profile_reads_as_the_domain_schedule() -> None:
    weekly = {"recurrencyKind": "Weekly", "transactionId": 9, "validTo": "2026-12-01T00:00:00Z"}
    profile = raw(4, "TxProfile", 2, [(0, 6.0), (600, 16.0)], kind="Recurring", **weekly)
    schedule = parse(2, profile)
    assert schedule == cp.LimitSchedule(
        id=4, connector=2, stack_level=2, purpose=cp.Purpose.SESSION, kind=cp.Kind.RECURRING,
        unit=cp.RateUnit.AMPS,
        periods=(cp.SchedulePeriod(0.0, 6.0), cp.SchedulePeriod(600.0, 16.0)),
        recurrence=cp.Recurrence.WEEKLY, start_s=T0, transaction_id=9,
        valid_to_s=datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
    )  # fmt: skip


def test_a_schedule_that_needs_a_start_has_one() -> None:
    with pytest.raises(ValueError, match="absolute schedule needs its start"):
        cp.LimitSchedule(1, 1, 0, cp.Purpose.SESSION_DEFAULT, cp.Kind.ABSOLUTE,
                         cp.RateUnit.AMPS, (cp.SchedulePeriod(0, 16.0),))  # fmt: skip
