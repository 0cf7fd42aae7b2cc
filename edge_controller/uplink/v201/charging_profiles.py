"""OCPP 2.0.1/2.1 charging profiles (ChargingProfileType) as the profiles the smart charging
store keeps: the 1.6 csChargingProfiles shape ``v16.charging_profiles`` reads into the
domain's limit schedules, with the profile as the CSMS sent it kept beside (``ORIGINAL``) for
GetChargingProfiles.

What the limit schedule cannot say is refused with a reason, never half taken: a profile with
more than one schedule (the choice among them belongs to ISO 15118), a period without a
limit (2.1 setpoints and discharging), purposes other than the three below, Dynamic profiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_controller.uplink.v16 import charging_profiles as v16

# 2.x purpose -> the 1.6 name the store keeps
PURPOSES = {
    "ChargingStationMaxProfile": "ChargePointMaxProfile",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
}
ORIGINAL = "ocpp2"  # the stored profile's member holding the 2.x profile as sent
_PERIOD_KEYS = ("startPeriod", "limit", "numberPhases")


class ProfileRefused(ValueError):
    """A profile the station does not take; ``reason_code`` goes in statusInfo (≤ 20 chars)."""

    def __init__(self, reason_code: str, info: str) -> None:
        super().__init__(info)
        self.reason_code = reason_code
        self.info = info


def _period(raw: Mapping[str, Any]) -> dict[str, Any]:
    if raw.get("limit") is None:
        raise ProfileRefused("UnsupportedParam", "a period without a limit is not supported")
    return {key: raw[key] for key in _PERIOD_KEYS if key in raw}


def _schedule(schedules: Any) -> dict[str, Any]:
    if not isinstance(schedules, list) or len(schedules) != 1:
        raise ProfileRefused("UnsupportedParam", "exactly one chargingSchedule is supported")
    raw = schedules[0]
    found = {
        "chargingRateUnit": raw["chargingRateUnit"],
        "chargingSchedulePeriod": [_period(p) for p in raw["chargingSchedulePeriod"]],
    }
    for key in ("startSchedule", "duration"):
        if key in raw:
            found[key] = raw[key]
    return found


def to_stored(evse_id: int, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The store's form of a 2.x profile for EVSE ``evse_id`` (0: the station). Raises
    ProfileRefused with the reason when the profile cannot be taken as it is."""
    purpose = raw.get("chargingProfilePurpose")
    if purpose not in PURPOSES:
        raise ProfileRefused("UnsupportedParam", f"chargingProfilePurpose {purpose} not supported")
    stored: dict[str, Any] = {
        "chargingProfileId": raw["id"],
        "stackLevel": raw["stackLevel"],
        "chargingProfilePurpose": PURPOSES[purpose],
        "chargingProfileKind": raw["chargingProfileKind"],
        "chargingSchedule": _schedule(raw["chargingSchedule"]),
    }
    for key in ("recurrencyKind", "validFrom", "validTo"):
        if key in raw:
            stored[key] = raw[key]
    try:
        v16.parse(evse_id, stored)  # the domain's own checks (period order, kinds, times)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileRefused("InvalidProfile", str(exc)[:512]) from None
    stored[ORIGINAL] = dict(raw)
    return stored


def reported(stored: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 2.x profile a stored one came from (None: it came over 1.6)."""
    original = stored.get(ORIGINAL)
    return dict(original) if isinstance(original, Mapping) else None
