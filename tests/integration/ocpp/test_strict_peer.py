"""Every message we send must pass the official OCPP 1.6 JSON schemas (ocpp-rpc strictMode)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.snapshot import Availability
from edge_controller.services.sessions.messages import stop_message
from edge_controller.uplink.link import Trigger
from edge_controller.uplink.rpc import CallFailed, OutgoingCall
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    start_payload,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer

pytestmark = pytest.mark.integration


def _rich_meter_value(at: str) -> dict[str, Any]:
    sampled: list[dict[str, Any]] = [
        {
            "value": "12345",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "context": "Sample.Periodic",
            "location": "Outlet",
        },
        {"value": "11040.0", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "16.0", "measurand": "Current.Offered", "unit": "A"},
        {"value": "51", "measurand": "SoC", "unit": "Percent", "location": "EV"},
    ]
    for phase in ("L1", "L2", "L3"):
        sampled.append(
            {"value": "15.9", "measurand": "Current.Import", "unit": "A", "phase": phase}
        )
        sampled.append(
            {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": f"{phase}-N"}
        )
    return {"timestamp": at, "sampledValue": sampled}


async def test_every_message_passes_the_official_schemas(tmp_path: Path) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING)
    site.set("c1:2", Availability.FAULTED, fault_text="contactor welded, vendor code 0x2F")
    async with strict_peer() as peer, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", "StartTransaction", start_payload("c1:1"), session_local_id=1)
        meter = {"connectorId": "c1:1", "meterValue": [_rich_meter_value("2026-11-27T00:05:00Z")]}
        await outbox.append("site1", "MeterValues", meter, session_local_id=1)
        # The session side's own StopTransaction (energy register at begin and end) ...
        begin_s = dt.datetime(2026, 11, 27, tzinfo=dt.UTC).timestamp()
        stop = stop_message(
            "site1", "AABBCCDD", 13000, begin_s + 3600, "EVDisconnected", begin=(begin_s, 1000)
        ).payload
        stop["transactionData"].append(_rich_meter_value("2026-11-27T00:59:00Z"))  # ... and more
        await outbox.append("site1", "StopTransaction", stop, session_local_id=1)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", firmware_version="1.2.3")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}) as uplink:
            await wait_for(lambda: len(peer.calls("StopTransaction")) == 1)
            assert (await uplink.authorize("AABBCCDD")) is not None
            session = uplink.sessions["site1"]
            await session.heartbeat()
            await session.triggered(Trigger("FirmwareStatusNotification"))
            await session.triggered(Trigger("StatusNotification", 2))
            await uplink.data_transfer("com.example", "ping", "{}")
            await wait_for(lambda: len(peer.calls("DataTransfer")) == 1)
    assert peer.invalid() == []
    actions = {c["action"] for c in peer.calls()}
    assert actions >= {
        "BootNotification",
        "StatusNotification",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
        "Authorize",
        "Heartbeat",
        "FirmwareStatusNotification",
        "DataTransfer",
    }
    stop_call = peer.calls("StopTransaction")[0]["params"]
    assert stop_call["transactionId"] == 1
    contexts = [v["sampledValue"][0].get("context") for v in stop_call["transactionData"]]
    assert contexts == ["Transaction.Begin", "Transaction.End", "Sample.Periodic"]
    faulted = [
        c["params"] for c in peer.calls("StatusNotification") if c["params"]["connectorId"] == 2
    ]
    assert faulted[0]["errorCode"] == "PowerSwitchFailure"


async def _nothing() -> None:
    return None


async def test_the_strict_peer_really_rejects_a_schema_violation(tmp_path: Path) -> None:
    async with strict_peer() as peer, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{peer.port}")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: "site1" in uplink.sessions and uplink.online)
            payload = {"connectorId": 1, "errorCode": "Bogus", "status": "Available"}
            rpc = uplink.sessions["site1"].cp.rpc
            with pytest.raises(CallFailed):  # ours refuses to send it ...
                rpc.prepare("StatusNotification", payload)
            frame = json.dumps([2, "bogus-1", "StatusNotification", payload])
            bad = OutgoingCall("bogus-1", "StatusNotification", frame)  # ... framed by hand
            with pytest.raises(CallFailed):
                await rpc.exchange(bad, _nothing)
            await wait_for(lambda: len(peer.invalid()) == 1)
    assert peer.invalid()[0]["action"] == "StatusNotification"
