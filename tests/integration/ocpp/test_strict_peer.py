"""Every message we send must pass the official OCPP 1.6 JSON schemas (ocpp-rpc strictMode)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions.events import (
    Location,
    MeterSampled,
    Quantity,
    Reading,
    ReadingContext,
)
from edge_controller.domain.snapshot import Availability
from edge_controller.uplink.link import Trigger
from edge_controller.uplink.rpc import CallFailed, OutgoingCall
from edge_controller.uplink.v16.meter_values import LINES, TO_NEUTRAL
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer
from tests.outbox_events import T0_S, ended, started

pytestmark = pytest.mark.integration


def _rich_sample(at_s: float) -> MeterSampled:
    """Every quantity the uplink reports, per phase where it has phases."""
    readings = [
        Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal("12345"), location=Location.OUTLET),
        Reading(Quantity.POWER_IMPORT_W, Decimal("11040.0")),
        Reading(Quantity.CURRENT_OFFERED_A, Decimal("16.0")),
        Reading(Quantity.STATE_OF_CHARGE_PCT, Decimal("51.0"), location=Location.EV),
    ]
    for line, to_neutral in zip(LINES, TO_NEUTRAL, strict=True):
        readings.append(Reading(Quantity.CURRENT_IMPORT_A, Decimal("15.9"), line))
        readings.append(Reading(Quantity.VOLTAGE_V, Decimal("230.1"), to_neutral))
    return MeterSampled(1, "c1:1", at_s, ReadingContext.PERIODIC, tuple(readings))


async def test_every_message_passes_the_official_schemas(tmp_path: Path) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING)
    site.set("c1:2", Availability.FAULTED, fault_text="contactor welded, vendor code 0x2F")
    async with strict_peer() as peer, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(1, "c1:1"))
        await outbox.append("site1", _rich_sample(T0_S + 300))
        # The session side's own end, with the energy register at begin and end
        stop = ended(1, 13000, reason=StopReason.EV_DISCONNECTED, meter_start_wh=1000)
        await outbox.append(
            "site1", replace(stop, with_registers=True, id_token=started(1).id_token)
        )
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
    assert contexts == ["Transaction.Begin", "Transaction.End"]
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
                await rpc.prepared("StatusNotification", payload)
            frame = json.dumps([2, "bogus-1", "StatusNotification", payload])
            bad = OutgoingCall("bogus-1", "StatusNotification", frame)  # ... framed by hand
            with pytest.raises(CallFailed):
                await rpc.exchange(bad, _nothing)
            await wait_for(lambda: len(peer.invalid()) == 1)
    assert peer.invalid()[0]["action"] == "StatusNotification"
