"""OCPP 2.0.1 monitoring (N) against the schema-strict CSMS: SetVariableMonitoring answers each
item (Accepted, Duplicate, UnsupportedMonitorType, UnknownComponent, Rejected), a Delta
monitor on a connector's AvailabilityState reports each change as a NotifyEvent within the
monitoring level and lives across a restart, ClearVariableMonitoring and SetMonitoringBase
remove monitors, and a charger fault the site filed goes through the outbox as a hard-wired
Problem NotifyEvent. A change seen while the CSMS is unreachable reaches it after the
reconnect, in order, once. Zero schema rejections."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.problems import ProblemKind, ProblemReported
from edge_controller.domain.snapshot import Availability
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.clock import from_iso
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.relay import relay
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.outbox_events import T0_S

pytestmark = pytest.mark.integration
POLL_S = 1.0  # the station looks at the connectors' states once a second


def _item(evse: int, kind: str = "Delta", component: str = "Connector", **more: Any) -> Any:
    where = {"id": evse, "connectorId": 1} if component == "Connector" else {"id": evse}
    return {"value": 0, "type": kind, "severity": 5,
            "component": {"name": component, "evse": where},
            "variable": {"name": "AvailabilityState"}, **more}  # fmt: skip


async def _ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> dict[str, Any]:
    return await peer.ask("site1", action, params)


def _changes(peer: StrictPeer) -> list[tuple[int, str, int]]:
    return [(e["component"]["evse"]["id"], e["actualValue"], e["variableMonitoringId"])
            for c in peer.calls("NotifyEvent") for e in c["params"]["eventData"]
            if e["variable"]["name"] == "AvailabilityState"]  # fmt: skip


async def _status_seen(peer: StrictPeer, word: str) -> None:
    def seen() -> bool:
        statuses = peer.calls("StatusNotification")
        return bool(statuses) and statuses[-1]["params"]["connectorStatus"] == word

    await wait_for(seen)


async def test_monitors_report_availability_changes_and_faults_go_through_the_outbox(
    tmp_path: Path,
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c1:2", Availability.AVAILABLE)
    async with (
        strict_peer(protocols="ocpp2.0.1") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.0.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}) as uplink:
            await wait_for(lambda: uplink.online)
            data = [_item(1), _item(1), _item(2, "UpperThreshold"), _item(1, component="Meter"),
                    _item(9), _item(2, id=77)]  # fmt: skip
            answer = await _ask(peer, "SetVariableMonitoring", {"setMonitoringData": data})
            results = answer["setMonitoringResult"]
            unsupported, unknown = "UnsupportedMonitorType", "UnknownComponent"
            assert [r["status"] for r in results] == [
                "Accepted", "Duplicate", unsupported, unknown, unknown, "Rejected"
            ]  # fmt: skip
            assert results[0]["id"] == 1
            site.set("c1:1", Availability.FAULTED, fault_text="contactor welded")
            await wait_for(lambda: len(_changes(peer)) == 1)
            # Beyond the level (severity 5 > 3): the change is not reported.
            assert await _ask(peer, "SetMonitoringLevel", {"severity": 3}) == {"status": "Accepted"}
            site.set("c1:1", Availability.AVAILABLE)
            await _status_seen(peer, "Available")
            await asyncio.sleep(POLL_S * 1.5)
            assert await _ask(peer, "SetMonitoringLevel", {"severity": 9}) == {"status": "Accepted"}
            site.set("c1:2", Availability.RESERVED)  # no monitor on EVSE 2: nothing said
            await _status_seen(peer, "Reserved")
        # A restart: the monitor and the level were kept.
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}) as uplink:
            await wait_for(lambda: uplink.online)
            await asyncio.sleep(POLL_S * 1.5)  # the first look is the baseline
            site.set("c1:1", Availability.UNAVAILABLE)
            await wait_for(lambda: len(_changes(peer)) == 2)
            text = "charger fault: contactor welded"
            fault = ProblemReported("P-000007", "c1:1", ProblemKind.OTHER, text, "site", T0_S)
            await outbox.append("site1", fault)
            uplink.notify_outbox()
            await wait_for(lambda: len(peer.calls("NotifyEvent")) == 3)
            cleared = await _ask(peer, "ClearVariableMonitoring", {"id": [1, 2]})
            base = await _ask(peer, "SetMonitoringBase", {"monitoringBase": "HardWiredOnly"})
            where = {key: _item(1)[key] for key in ("component", "variable")}
            state = await _ask(peer, "GetVariables", {"getVariableData": [where]})
        assert await outbox.backlog() == 0
    assert _changes(peer) == [(1, "Faulted", 1), (1, "Unavailable", 1)]
    assert [r["status"] for r in cleared["clearMonitoringResult"]] == ["Accepted", "NotFound"]
    assert base == {"status": "Accepted"}
    (got,) = state["getVariableResult"]
    assert got["attributeValue"] == "Unavailable"  # as the StatusNotification said
    (problem,) = peer.calls("NotifyEvent")[-1]["params"]["eventData"]
    assert problem["component"] == {"name": "EVSE", "evse": {"id": 1}}
    assert problem["eventNotificationType"] == "HardWiredNotification"
    assert (problem["eventId"], problem["trigger"], problem["actualValue"]) == (
        7,
        "Alerting",
        "true",
    )
    assert problem["techInfo"] == "P-000007 (site): charger fault: contactor welded"
    assert peer.invalid() == []


async def test_n_changes_while_offline_reach_the_csms_after_the_reconnect_in_order_once(
    tmp_path: Path,
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    changes = [Availability.FAULTED, Availability.AVAILABLE, Availability.UNAVAILABLE]
    seen_s: list[tuple[float, float]] = []  # (changed, committed) per change
    async with (
        strict_peer(protocols="ocpp2.0.1") as peer,
        relay(peer.port) as path,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{path.port}", version="2.0.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online)
            answer = await _ask(peer, "SetVariableMonitoring", {"setMonitoringData": [_item(1)]})
            assert answer["setMonitoringResult"][0]["status"] == "Accepted"
            await wait_for(lambda: len(peer.calls("SecurityEventNotification")) == 1)
            path.cut()
            await wait_for(lambda: not uplink.online)
            for number, word in enumerate(changes, start=1):
                changed_s = time.time()
                site.set("c1:1", word, fault_text="contactor welded" if number == 1 else None)
                await _backlog(outbox, number)
                seen_s.append((changed_s, time.time()))
            assert _changes(peer) == []  # nothing said while offline
            path.restore()
            await wait_for(lambda: len(_changes(peer)) == len(changes))
            await _backlog(outbox, 0)
            await asyncio.sleep(POLL_S * 1.5)  # nothing more comes
    assert _changes(peer) == [(1, "Faulted", 1), (1, "Available", 1), (1, "Unavailable", 1)]
    events = [e for c in peer.calls("NotifyEvent") for e in c["params"]["eventData"]]
    assert len({e["eventId"] for e in events}) == len(changes)
    for event, (changed_s, committed_s) in zip(events, seen_s, strict=True):
        at_s = from_iso(event["timestamp"])  # when it changed, not when it was sent
        assert changed_s - 0.01 <= at_s <= committed_s + 0.01
    assert peer.invalid() == []


async def _backlog(outbox: Outbox, count: int) -> None:
    for _ in range(1000):
        if await outbox.backlog("site1") == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backlog never {count}: {await outbox.backlog('site1')}")
