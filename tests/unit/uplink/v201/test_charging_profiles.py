"""2.x charging profiles read as the store's profiles: the limit schedule they give, and the
reason for each one refused."""

from __future__ import annotations

from typing import Any

import pytest

from edge_controller.domain.limit_schedule import Kind, Purpose, RateUnit, SchedulePeriod
from edge_controller.uplink.v16.charging_profiles import parse
from edge_controller.uplink.v201.charging_profiles import ProfileRefused, reported, to_stored


def profile(**more: Any) -> dict[str, Any]:
    return {
        "id": 4,
        "stackLevel": 2,
        "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "validTo": "2027-01-01T00:00:00Z",
        "chargingSchedule": [
            {
                "id": 11,
                "startSchedule": "2026-01-01T00:00:00Z",
                "duration": 3600,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 11000.0, "numberPhases": 3},
                    {"startPeriod": 1800, "limit": 3680.0, "numberPhases": 1},
                ],
            }
        ],
        **more,
    }


def test_a_station_maximum_in_w_reads_as_its_limit_schedule() -> None:
    schedule = parse(0, to_stored(0, profile()))
    assert (schedule.id, schedule.stack_level, schedule.connector) == (4, 2, 0)
    assert schedule.purpose is Purpose.CHARGER_MAX
    assert schedule.kind is Kind.RECURRING
    assert schedule.unit is RateUnit.WATTS
    assert schedule.periods == (SchedulePeriod(0, 11000.0, 3), SchedulePeriod(1800, 3680.0, 1))
    assert schedule.start_s == 1767225600.0
    assert schedule.duration_s == 3600.0
    assert schedule.valid_to_s == 1798761600.0


def test_the_profile_as_sent_is_kept_for_reports() -> None:
    sent = profile(chargingProfilePurpose="TxProfile", transactionId="5-0")
    assert reported(to_stored(1, sent)) == sent
    assert reported({"chargingProfileId": 1}) is None  # a 1.6 profile


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"chargingProfilePurpose": "ChargingStationExternalConstraints"}, "UnsupportedParam"),
        ({"chargingProfilePurpose": "PriorityCharging"}, "UnsupportedParam"),
        ({"chargingSchedule": []}, "UnsupportedParam"),
        ({"chargingProfileKind": "Dynamic"}, "InvalidProfile"),
        ({"recurrencyKind": None}, "InvalidProfile"),
    ],
)
def test_what_the_schedule_cannot_say_is_refused(changes: dict[str, Any], reason: str) -> None:
    raw = {k: v for k, v in profile(**changes).items() if v is not None}
    with pytest.raises(ProfileRefused) as refused:
        to_stored(0, raw)
    assert refused.value.reason_code == reason


def test_periods_without_a_limit_or_out_of_order_are_refused() -> None:
    raw = profile()
    periods = raw["chargingSchedule"][0]["chargingSchedulePeriod"]
    del periods[1]["limit"]
    with pytest.raises(ProfileRefused, match="without a limit"):
        to_stored(0, raw)
    raw = profile()
    raw["chargingSchedule"][0]["chargingSchedulePeriod"].reverse()
    with pytest.raises(ProfileRefused, match="in order") as refused:
        to_stored(0, raw)
    assert refused.value.reason_code == "InvalidProfile"
