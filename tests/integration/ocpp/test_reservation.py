"""ReserveNow / CancelReservation answers and TriggerMessage MeterValues, at the wire."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.commands import CancelReservation, Origin, Reserve
from edge_controller.domain.snapshot import Availability
from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.link import Trigger
from edge_controller.uplink.ports import MeterSample
from tests.integration.ocpp.harness import (
    FakeMeters,
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer
from tests.outbox_events import started

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 3}


def reserve_now(connector: int, rid: int, in_s: float = 600.0) -> dict[str, object]:
    expiry = to_iso(time.time() + in_s)
    return {"connectorId": connector, "expiryDate": expiry, "idTag": "aabbccdd",
            "reservationId": rid}  # fmt: skip


def statuses(csms: BenchCsms, connector: int) -> list[str]:
    return [
        str(p["status"])
        for _, action, p in csms.record.calls
        if action == "StatusNotification" and p["connectorId"] == connector
    ]


async def test_reserve_now_answers_by_connector_condition(tmp_path: Path) -> None:
    csms, site = BenchCsms(), FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c1:2", Availability.FAULTED, fault_text="relay stuck")
    site.set("c1:3", Availability.CHARGING, session_id="3")
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            answers = {}
            for connector in (1, 2, 3, 0, 9):
                got = await csms.send("site1", "ReserveNow", reserve_now(connector, 10 + connector))
                answers[connector] = got["status"]
            late = await csms.send("site1", "ReserveNow", reserve_now(1, 20, in_s=-5))
            offset_s = uplink.clock.offset_s
    # Connector 0: c1:1 still shows Available here (the fake site does not apply commands).
    assert answers == {1: "Accepted", 2: "Faulted", 3: "Occupied", 0: "Accepted", 9: "Rejected"}
    assert late == {"status": "Rejected"}
    command, any_connector = [c for c in site.commands if isinstance(c, Reserve)]
    assert (any_connector.connector_id, any_connector.reservation_id) == ("site1:0", 10)
    assert (command.connector_id, command.reservation_id) == ("c1:1", 11)
    assert command.id_tag == "AABBCCDD"  # normalised
    assert abs(command.expiry_at_s + offset_s - time.time() - 600) < 120


async def test_reserved_status_cancel_and_unavailable(tmp_path: Path) -> None:
    csms, site = BenchCsms(), FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c1:2", Availability.AVAILABLE)
    site.set("c1:3", Availability.AVAILABLE)
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            unknown = await csms.send("site1", "CancelReservation", {"reservationId": 11})
            site.set("c1:1", Availability.RESERVED, reservation_id=11)
            await wait_for(lambda: "Reserved" in statuses(csms, 1))
            other = await csms.send("site1", "ReserveNow", reserve_now(1, 12))
            again = await csms.send("site1", "ReserveNow", reserve_now(1, 11))
            cancel = await csms.send("site1", "CancelReservation", {"reservationId": 11})
            off = {"connectorId": 2, "type": "Inoperative"}
            await csms.send("site1", "ChangeAvailability", off)
            unavailable = await csms.send("site1", "ReserveNow", reserve_now(2, 13))
            config = await csms.send("site1", "GetConfiguration", {})
    assert unknown == {"status": "Rejected"}
    assert (other, again, cancel) == ({"status": "Occupied"}, {"status": "Accepted"},
                                      {"status": "Accepted"})  # fmt: skip
    assert unavailable == {"status": "Unavailable"}
    assert CancelReservation(11, Origin.CSMS) in site.commands
    assert [c.reservation_id for c in site.commands if isinstance(c, Reserve)] == [11]
    keys = {k["key"]: k.get("value") for k in config["configurationKey"]}
    assert "Reservation" in str(keys["SupportedFeatureProfiles"]).split(",")
    assert keys["ReserveConnectorZeroSupported"] == "true"


async def test_trigger_meter_values_for_one_or_all_connectors(tmp_path: Path) -> None:
    csms, site = BenchCsms(), FakeSite()
    site.set("c1:1", Availability.CHARGING, session_id="5")
    site.set("c1:2", Availability.AVAILABLE)
    sample = MeterSample(at_s=0.0, energy_register_wh=4321.0, power_w=7000.0)
    meters = FakeMeters({"c1:1": sample, "c1:2": sample})
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.set_remote_transaction_id(5, 42)
        settings = settings_for(f"ws://127.0.0.1:{port}", meter_value_sample_interval_s=0)
        async with running_uplink(
            settings, site, outbox, tmp_path, {"c1": 2}, meters=meters
        ) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            one = await csms.send(
                "site1", "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}
            )
            await wait_for(lambda: len(_triggered(csms)) == 1)
            every = await csms.send("site1", "TriggerMessage", {"requestedMessage": "MeterValues"})
            await wait_for(lambda: len(_triggered(csms)) == 3)
    assert one == every == {"status": "Accepted"}
    first, *rest = _triggered(csms)
    assert first["connectorId"] == 1 and first["transactionId"] == 42
    assert first["meterValue"][0]["sampledValue"][0]["value"] == "4321"
    assert sorted(p["connectorId"] for p in rest) == [1, 2]
    assert all("transactionId" not in p for p in rest if p["connectorId"] == 2)


def _triggered(csms: BenchCsms) -> list[dict[str, Any]]:
    found = []
    for _, action, payload in csms.record.calls:
        values = payload.get("meterValue", []) if action == "MeterValues" else []
        if any(s.get("context") == "Trigger" for v in values for s in v["sampledValue"]):
            found.append(payload)
    return found


async def test_the_strict_peer_accepts_reservation_messages(tmp_path: Path) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.RESERVED, reservation_id=3)
    site.set("c1:2", Availability.CHARGING, session_id="1")
    sample = MeterSample(at_s=0.0, energy_register_wh=1500.0, power_w=3600.0,
                         current_a=(16.0, 16.0, 16.0), voltage_v=(230.0, 231.0, 229.0))  # fmt: skip
    async with strict_peer() as peer, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(1, "c1:2", reservation_id=3))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}")
        meters = FakeMeters({"c1:1": sample, "c1:2": sample})
        async with running_uplink(
            settings, site, outbox, tmp_path, {"c1": 2}, meters=meters
        ) as uplink:
            await wait_for(lambda: len(peer.calls("StartTransaction")) == 1)
            await uplink.sessions["site1"].triggered(Trigger("MeterValues"))
            await wait_for(lambda: len(peer.calls("MeterValues")) >= 2)
    assert peer.invalid() == []
    reported = [c["params"] for c in peer.calls("StatusNotification")]
    assert any(p["connectorId"] == 1 and p["status"] == "Reserved" for p in reported)
    assert peer.calls("StartTransaction")[0]["params"]["reservationId"] == 3
    contexts = {
        s.get("context")
        for c in peer.calls("MeterValues")
        for v in c["params"]["meterValue"]
        for s in v["sampledValue"]
    }
    assert "Trigger" in contexts
