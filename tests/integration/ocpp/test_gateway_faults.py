"""The site's gateway faults (several gateways on one grid connection) reach the CSMS as the
station's own faults, since they belong to no charger: on OCPP 1.6 the charge point's status
(connector 0) says OtherError with the first fault's text and key while any lasts, and NoError
once none does; the fault's problem report (DataTransfer) and its resolution go through the
outbox on connector 0. On OCPP 2.0.1 and 2.1 the report is the ChargingStation's hard-wired
Problem (trigger Alerting), cleared when the fault ends. Each is told once per fault however
often the site looks. The real fault watch, problem desk, database and uplink, and the
schema-strict CSMS; zero schema rejections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.app.problems import ProblemDesk, UplinkRoute, station_route
from edge_controller.app.site_faults import FaultWatch
from edge_controller.domain.snapshot import Availability, GatewayFault, SiteView
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.uplink.topology import Topology
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    database_of,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer

pytestmark = pytest.mark.integration
AT_S = 1_772_434_800.0  # 2026-03-02 07:00 UTC
CHARGERS = {"c1": 2}
A = GatewayFault(
    "safe_budget:hall-a",
    "child hall-a has its own safe budget at 32 A, above the 12 A configured for it",
)
B = GatewayFault("unknown_child:hall-x", "demands from a child 'hall-x' that is not configured")


async def _unused_view() -> SiteView:
    raise AssertionError("the test hands the watch its views")


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_gateway_faults_reach_the_csms_as_the_station_s_once_each(
    tmp_path: Path, version: str
) -> None:
    """A and B start, A ends, B ends; the site looks three times at each state."""
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c1:2", Availability.AVAILABLE)
    shown: list[GatewayFault] = []
    async with (
        strict_peer(protocols="ocpp" + version) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(
            settings, site, outbox, tmp_path, CHARGERS, station_faults=lambda: tuple(shown)
        ) as uplink:
            topology = Topology(settings.topology, IDENTITY, CHARGERS)
            route = UplinkRoute(station_route(topology), uplink.notify_outbox)
            store = ProblemStore(database_of(outbox))
            watch = FaultWatch(ProblemDesk(store, None, route, lambda: AT_S), store,
                               _unused_view, 30.0)  # fmt: skip
            await wait_for(lambda: uplink.online)
            expected = 0
            for faults in ([A, B], [B], []):
                shown[:] = faults
                for _ in range(3):
                    await watch.step(SiteView("depot", None, 50.0, None, None,
                                              at_s=AT_S, gateway_faults=tuple(faults)))  # fmt: skip
                expected += 1 if version == "1.6" else 0  # the status
                expected += 2 if faults == [A, B] else 1  # the reports, or a resolution
                await wait_for(lambda n=expected: _told(peer.calls(), version) >= n, 15.0)  # type: ignore[misc]
            await wait_for(lambda: _told(peer.calls(), version) >= expected, 15.0)
    assert peer.invalid() == []
    calls = peer.calls()
    if version == "1.6":
        statuses = [_status(c) for c in calls if _is_station_status(c)]
        assert statuses == [
            ("Available", "NoError", None, None),  # at the connection
            ("Available", "OtherError", "2 gateway faults: child hall-a has its own safe bu",
             "safe_budget:hall-a"),
            ("Available", "OtherError", "gateway: demands from a child 'hall-x' that is not",
             "unknown_child:hall-x"),
            ("Available", "NoError", None, None),
        ]  # fmt: skip
        reports = [
            (c["params"]["messageId"], json.loads(c["params"]["data"]))
            for c in calls
            if c["action"] == "DataTransfer"
        ]
        assert [(m, d["connectorId"], d.get("action")) for m, d in reports] == [
            ("ProblemReport", 0, None), ("ProblemReport", 0, None),
            ("ProblemHandled", 0, "resolved"), ("ProblemHandled", 0, "resolved"),
        ]  # fmt: skip
        assert reports[0][1]["text"] == f"gateway fault: {A.text}"
        return
    problems = [e for c in calls if c["action"] == "NotifyEvent" for e in c["params"]["eventData"]]
    said = [(e["component"], e["trigger"], e["actualValue"], e.get("cleared")) for e in problems]
    assert said == [
        ({"name": "ChargingStation"}, "Alerting", "true", None),
        ({"name": "ChargingStation"}, "Alerting", "true", None),
        ({"name": "ChargingStation"}, "Alerting", "false", True),
        ({"name": "ChargingStation"}, "Alerting", "false", True),
    ]  # fmt: skip
    assert A.text in problems[0]["techInfo"] and B.text in problems[1]["techInfo"]
    assert [e["cause"] for e in problems[2:]] == [problems[0]["eventId"], problems[1]["eventId"]]


def _is_station_status(call: dict[str, Any]) -> bool:
    return call["action"] == "StatusNotification" and call["params"]["connectorId"] == 0


def _status(call: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    p = call["params"]
    return p["status"], p["errorCode"], p.get("info"), p.get("vendorErrorCode")


def _told(calls: list[dict[str, Any]], version: str) -> int:
    """The station's fault messages the CSMS received: 1.6 connector 0's statuses after the
    first, and the problem reports and resolutions."""
    if version == "1.6":
        statuses = len([c for c in calls if _is_station_status(c)]) - 1
        return statuses + len([c for c in calls if c["action"] == "DataTransfer"])
    return len([
        e for c in calls if c["action"] == "NotifyEvent" for e in c["params"]["eventData"]
        if e["variable"]["name"] == "Problem"
    ])  # fmt: skip
