"""Smart charging on OCPP 2.0.1 and 2.1 against the schema-strict CSMS (official schemas both
ways, zero rejections): SetChargingProfile of the three purposes in A and W becomes the load
balancer's external limits, ClearChargingProfile lifts them, GetChargingProfiles answers with
ReportChargingProfiles holding the profiles as sent, GetCompositeSchedule combines them, and
a profile the station cannot follow is Rejected with its reason and changes no limit.

Smart charging cases of OCPP 2.0.1 (K): K01 SetChargingProfile (ChargingStationMaxProfile,
TxDefaultProfile, TxProfile; what cannot be followed Rejected), K08 GetCompositeSchedule, K09
GetChargingProfiles → ReportChargingProfiles, K10 ClearChargingProfile by id and by purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.model import Limit
from edge_controller.domain.snapshot import Availability
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeLimits,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]
START = "2026-01-01T00:00:00Z"


def profile(pid: int, purpose: str, limit: float, unit: str = "A", **more: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "stackLevel": 1,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": pid,
                "startSchedule": START,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            }
        ],
        **more,
    }


@asynccontextmanager
async def station(
    tmp_path: Path, protocol: str, version: str, limits: FakeLimits
) -> AsyncIterator[tuple[StrictPeer, FakeSite]]:
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING, session_id="5")
    site.set("c2:1", Availability.AVAILABLE)
    async with (
        strict_peer(protocols=protocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        chargers = {"c1": 1, "c2": 1}
        async with running_uplink(settings, site, outbox, tmp_path, chargers, limits=limits) as up:
            await wait_for(lambda: up.links[IDENTITY].accepted)
            yield peer, site
        assert peer.invalid() == []


async def ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> dict[str, Any]:
    return await peer.ask(IDENTITY, action, params)


async def set_profile(peer: StrictPeer, evse_id: int, raw: dict[str, Any]) -> dict[str, Any]:
    return await ask(peer, "SetChargingProfile", {"evseId": evse_id, "chargingProfile": raw})


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_k01_k08_k10_profiles_in_a_and_w_become_limits_and_clear(
    tmp_path: Path, version: str, protocol: str
) -> None:
    limits = FakeLimits()
    async with station(tmp_path, protocol, version, limits) as (peer, site):
        cap = profile(7, "ChargingStationMaxProfile", 13800.0, unit="W")
        assert await set_profile(peer, 0, cap) == {"status": "Accepted"}
        default = profile(8, "TxDefaultProfile", 12.0)
        assert await set_profile(peer, 2, default) == {"status": "Accepted"}
        tx = profile(9, "TxProfile", 10.0, transactionId="5-0")
        assert await set_profile(peer, 1, tx) == {"status": "Accepted"}
        await wait_for(lambda: len(limits.connectors) == 2 and limits.total is not None)
        assert limits.total == Limit(20.0, "csms profile 7")  # 13800 W at 230 V x 3
        assert limits.connectors == {
            "c1:1": Limit(10.0, "csms profile 9"),
            "c2:1": Limit(12.0, "csms profile 8"),
        }
        composite = await ask(peer, "GetCompositeSchedule", {"evseId": 1, "duration": 600})
        assert composite["status"] == "Accepted"
        assert composite["schedule"]["evseId"] == 1
        periods = composite["schedule"]["chargingSchedulePeriod"]
        assert periods == [{"startPeriod": 0, "limit": 10.0}]
        in_w = {"evseId": 0, "duration": 600, "chargingRateUnit": "W"}
        station_w = await ask(peer, "GetCompositeSchedule", in_w)
        assert station_w["schedule"]["chargingSchedulePeriod"][0]["limit"] == 13800.0
        cleared = await ask(peer, "ClearChargingProfile", {"chargingProfileId": 9})
        assert cleared == {"status": "Accepted"}
        await wait_for(lambda: "c1:1" not in limits.connectors)
        tx_again = profile(10, "TxProfile", 8.0, transactionId="5-0")
        assert await set_profile(peer, 1, tx_again) == {"status": "Accepted"}
        await wait_for(lambda: limits.connectors.get("c1:1") == Limit(8.0, "csms profile 10"))
        site.set("c1:1", Availability.AVAILABLE, session_id="")  # the session ends
        await wait_for(lambda: "c1:1" not in limits.connectors)
        site.set("c1:1", Availability.CHARGING, session_id="6")  # the next one is not limited
        gone = await ask(peer, "ClearChargingProfile", {"chargingProfileId": 10})
        assert gone == {"status": "Unknown"}
        by_purpose = {"chargingProfileCriteria": {"chargingProfilePurpose": "TxDefaultProfile"}}
        assert await ask(peer, "ClearChargingProfile", by_purpose) == {"status": "Accepted"}
        await wait_for(lambda: limits.connectors == {})
        assert limits.total == Limit(20.0, "csms profile 7")
        again = await ask(peer, "ClearChargingProfile", {"chargingProfileId": 9})
        assert again == {"status": "Unknown"}


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_k09_get_charging_profiles_reports_them_as_sent(
    tmp_path: Path, version: str, protocol: str
) -> None:
    limits = FakeLimits()
    async with station(tmp_path, protocol, version, limits) as (peer, _):
        cap = profile(7, "ChargingStationMaxProfile", 32.0)
        default = profile(8, "TxDefaultProfile", 6.5)
        assert await set_profile(peer, 0, cap) == {"status": "Accepted"}
        assert await set_profile(peer, 2, default) == {"status": "Accepted"}
        every = {"requestId": 3, "chargingProfile": {}}
        assert await ask(peer, "GetChargingProfiles", every) == {"status": "Accepted"}
        await wait_for(lambda: len(peer.calls("ReportChargingProfiles")) == 2)
        reports = [c["params"] for c in peer.calls("ReportChargingProfiles")]
        assert [(r["requestId"], r["evseId"], r["tbc"]) for r in reports] == [
            (3, 0, True),
            (3, 2, False),
        ]
        assert reports[0]["chargingProfile"] == [cap]
        assert reports[1]["chargingProfile"] == [default]
        none = {"requestId": 4, "evseId": 1, "chargingProfile": {}}
        assert await ask(peer, "GetChargingProfiles", none) == {"status": "NoProfiles"}


REFUSED = [
    (0, profile(1, "TxProfile", 10.0, transactionId="5-0"), "InvalidValue"),
    (2, profile(2, "TxProfile", 10.0, transactionId="5-0"), "TxNotFound"),
    (1, profile(3, "TxProfile", 10.0, transactionId="6-0"), "TxNotFound"),
    (1, profile(4, "ChargingStationMaxProfile", 10.0), "InvalidValue"),
    (3, profile(5, "TxDefaultProfile", 10.0), "UnknownEvse"),
    (0, profile(6, "ChargingStationExternalConstraints", 10.0), "UnsupportedParam"),
    (
        0,
        {**profile(7, "TxDefaultProfile", 10.0), "chargingProfileKind": "Recurring"},
        "InvalidProfile",
    ),
]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_k01_profiles_it_cannot_follow_are_rejected_with_a_reason(
    tmp_path: Path, version: str, protocol: str
) -> None:
    limits = FakeLimits()
    async with station(tmp_path, protocol, version, limits) as (peer, _):
        for evse_id, raw, reason in REFUSED:
            answer = await set_profile(peer, evse_id, raw)
            assert answer["status"] == "Rejected", raw
            assert answer["statusInfo"]["reasonCode"] == reason, raw
        two = profile(9, "TxDefaultProfile", 10.0)
        two["chargingSchedule"].append({**two["chargingSchedule"][0], "id": 10})
        answer = await set_profile(peer, 0, two)
        assert answer["statusInfo"]["reasonCode"] == "UnsupportedParam"
        every = {"requestId": 1, "chargingProfile": {}}
        assert await ask(peer, "GetChargingProfiles", every) == {"status": "NoProfiles"}
        assert limits.connectors == {} and limits.total is None
