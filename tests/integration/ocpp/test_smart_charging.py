"""Charging profiles from the CSMS become external limits, never setpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.model import Limit
from edge_controller.domain.snapshot import Availability
from edge_controller.sim.csms import BenchCsms
from tests.integration.ocpp.harness import (
    FakeLimits,
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.outbox_events import started

pytestmark = pytest.mark.integration


def _profile(pid: int, purpose: str, limit: float, unit: str = "A", **extra: Any) -> dict[str, Any]:
    return {
        "chargingProfileId": pid,
        "stackLevel": 1,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }


async def test_profiles_become_limits_composite_and_clear(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING, session_id="1")
    site.set("c1:2", Availability.AVAILABLE)
    limits = FakeLimits()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(1, "c1:1"))
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}, limits=limits) as up:
            await wait_for(lambda: up.online and "StartTransaction" in csms.actions())
            await wait_for(lambda: csms.record.transactions.get(1) is not None)
            send = csms.send
            cap = _profile(7, "ChargePointMaxProfile", 13800.0, unit="W")
            ok = await send(
                "site1", "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": cap}
            )
            assert ok == {"status": "Accepted"}
            tx = _profile(8, "TxProfile", 10.0, transactionId=1)
            ok = await send(
                "site1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": tx}
            )
            assert ok == {"status": "Accepted"}
            await wait_for(lambda: "c1:1" in limits.connectors and limits.total is not None)
            assert limits.connectors["c1:1"] == Limit(10.0, "csms profile 8")
            assert limits.total == Limit(20.0, "csms profile 7")
            idle_tx = _profile(9, "TxProfile", 6.0)
            refused = await send(
                "site1", "SetChargingProfile", {"connectorId": 2, "csChargingProfiles": idle_tx}
            )
            assert refused == {"status": "Rejected"}  # no transaction on connector 2
            schedule = await send(
                "site1", "GetCompositeSchedule", {"connectorId": 1, "duration": 600}
            )
            assert schedule["status"] == "Accepted"
            periods = schedule["chargingSchedule"]["chargingSchedulePeriod"]
            assert periods == [{"startPeriod": 0, "limit": 10.0}]
            cleared = await send("site1", "ClearChargingProfile", {"id": 8})
            assert cleared == {"status": "Accepted"}
            await wait_for(lambda: "c1:1" not in limits.connectors)
            again = await send("site1", "ClearChargingProfile", {"id": 8})
            assert again == {"status": "Unknown"}
        # The ChargePointMaxProfile survives a restart.
        restarted = FakeLimits()
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}, limits=restarted):
            await wait_for(lambda: restarted.total is not None)
            assert restarted.total == Limit(20.0, "csms profile 7")
