"""OCPP 2.1 periodic event streams of meter data (N11-N15) against the schema-strict CSMS: a
Periodic monitor with ``periodicEventStream`` on an EVSE's Power opens a stream
(OpenPeriodicEventStream), the power read at the monitor's interval goes out as
NotifyPeriodicEventStream SENDs of ``values`` each, equal to what the meter reads;
GetPeriodicEventStream lists it, AdjustPeriodicEventStream changes it, clearing the monitor
closes it (ClosePeriodicEventStream) and ends the SENDs. A refused stream sends nothing. Zero
schema rejections."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.snapshot import Availability
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.ports import MeterSample
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeMeters,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
READ_EVERY_S = 0.5
NOTIFY = "NotifyPeriodicEventStream"


def _power_monitor(values: int, interval_s: int = 30) -> dict[str, Any]:
    return {"value": READ_EVERY_S, "type": "Periodic", "severity": 5,
            "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
            "periodicEventStream": {"interval": interval_s, "values": values}}  # fmt: skip


async def _ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> dict[str, Any]:
    return await peer.ask(IDENTITY, action, params)


def _meters(power_w: float) -> FakeMeters:
    return FakeMeters({"c1:1": MeterSample(time.time(), 1000.0, power_w)})


def _values(peer: StrictPeer) -> list[str]:
    return [d["v"] for s in peer.sends(NOTIFY) for d in s["params"]["data"]]


async def test_a_stream_of_an_evses_power_is_opened_sent_adjusted_and_closed(
    tmp_path: Path,
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING)
    meters = _meters(7200.0)
    async with (
        strict_peer(protocols="ocpp2.1") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}, meters=meters):
            await wait_for(lambda: bool(peer.calls("StatusNotification")))
            answer = await _ask(peer, "SetVariableMonitoring",
                                {"setMonitoringData": [_power_monitor(values=2)]})  # fmt: skip
            (result,) = answer["setMonitoringResult"]
            assert result["status"] == "Accepted", result
            number = result["id"]
            constant = {"id": number, "variableMonitoringId": number,
                        "params": {"interval": 30, "values": 2}}  # fmt: skip
            await wait_for(lambda: bool(peer.calls("OpenPeriodicEventStream")))
            assert peer.calls("OpenPeriodicEventStream")[0]["params"] == {
                "constantStreamData": constant
            }
            await wait_for(lambda: len(peer.sends(NOTIFY)) >= 2)
            for sent in peer.sends(NOTIFY)[:2]:
                params = sent["params"]
                assert (params["id"], params["pending"]) == (number, 0)
                assert [d["v"] for d in params["data"]] == ["7200.0", "7200.0"]
                offsets = [d["t"] for d in params["data"]]
                assert offsets[0] == 0 and 0.3 <= offsets[1] <= 1.5, offsets
                assert abs(from_iso(params["basetime"]) - time.time()) < 30

            # What the meter reads is what goes out.
            meters.samples["c1:1"] = MeterSample(time.time(), 1100.0, 3600.0)
            await wait_for(lambda: "3600.0" in _values(peer))
            got = await _ask(peer, "GetPeriodicEventStream", {})
            assert got == {"constantStreamData": [constant]}

            one_by_one = {"id": number, "params": {"interval": 30, "values": 1}}
            adjusted = await _ask(peer, "AdjustPeriodicEventStream", one_by_one)
            assert adjusted == {"status": "Accepted"}
            unknown = await _ask(peer, "AdjustPeriodicEventStream",
                                 {"id": number + 50, "params": {"values": 1}})  # fmt: skip
            assert unknown["status"] == "Rejected"
            before = len(peer.sends(NOTIFY))
            await wait_for(lambda: len(peer.sends(NOTIFY)) >= before + 3)
            assert all(len(s["params"]["data"]) == 1 for s in peer.sends(NOTIFY)[before + 1 :])
            got = await _ask(peer, "GetPeriodicEventStream", {})
            assert got["constantStreamData"][0]["params"] == {"interval": 30, "values": 1}

            cleared = await _ask(peer, "ClearVariableMonitoring", {"id": [number]})
            assert cleared["clearMonitoringResult"] == [{"id": number, "status": "Accepted"}]
            await wait_for(lambda: bool(peer.calls("ClosePeriodicEventStream")))
            assert peer.calls("ClosePeriodicEventStream")[0]["params"] == {"id": number}
            closed_at = len(peer.sends(NOTIFY))
            await asyncio.sleep(3 * READ_EVERY_S)  # three reads' time: none is sent
            assert len(peer.sends(NOTIFY)) == closed_at
            assert await _ask(peer, "GetPeriodicEventStream", {}) == {}
    assert peer.invalid() == []


async def test_a_stream_the_csms_refuses_sends_nothing(tmp_path: Path) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING)
    async with (
        strict_peer(protocols="ocpp2.1", stream_status="Rejected") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.1")
        meters = _meters(7200.0)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}, meters=meters):
            await wait_for(lambda: bool(peer.calls("StatusNotification")))
            answer = await _ask(peer, "SetVariableMonitoring",
                                {"setMonitoringData": [_power_monitor(values=1)]})  # fmt: skip
            assert answer["setMonitoringResult"][0]["status"] == "Accepted"
            await wait_for(lambda: bool(peer.calls("OpenPeriodicEventStream")))
            await asyncio.sleep(3 * READ_EVERY_S)
            assert await _ask(peer, "GetPeriodicEventStream", {}) == {}
    assert len(peer.calls("OpenPeriodicEventStream")) == 1  # not asked again
    assert peer.sends(NOTIFY) == []
    assert peer.invalid() == []
