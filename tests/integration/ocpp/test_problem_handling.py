"""A problem report's acknowledgement, resolution and notes reach the CSMS through the outbox
like the report itself: OCPP 1.6 DataTransfer (vendor id ``edge_controller``, message ids
``ProblemReport`` then ``ProblemHandled``), OCPP 2.0.1 and 2.1 NotifyEvent (the report's
hard-wired Problem, then events caused by it; the resolution clears it). The real problem desk
and database, the uplink, and the schema-strict CSMS; zero schema rejections. MQTT's side is in
tests/e2e/test_problem_handling.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.app.problems import ProblemDesk, UplinkRoute
from edge_controller.domain.problems import ProblemHandled, ProblemKind, ProblemReport
from edge_controller.domain.snapshot import Availability
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.telemetry import ProblemNotice
from edge_controller.uplink.v201.monitoring import HANDLED_EVENT_ID_BASE
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


def _route(connector_id: str) -> str | None:
    return IDENTITY if connector_id.startswith("c1:") else None  # meters are not sent


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_acknowledged_and_resolved_reports_reach_the_csms_after_the_report(
    tmp_path: Path, version: str
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c1:2", Availability.AVAILABLE)
    told: list[ProblemNotice | ProblemHandled] = []
    protocol = "ocpp" + version
    async with (
        strict_peer(protocols=protocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}) as uplink:
            route = UplinkRoute(_route, uplink.notify_outbox)
            desk = ProblemDesk(ProblemStore(database_of(outbox)), told.append, route, lambda: AT_S)
            await wait_for(lambda: uplink.online)
            report = ProblemReport("c1:2", ProblemKind.CABLE, "plug cracked", "sub-1")
            number = (await desk.file(report)).number
            await desk.handle(number, "acknowledged", "ops", "Technician\nbooked")
            await desk.handle(number, "resolved", "ops", "Cable replaced")
            await desk.handle(number, "noted", "viv", "Invoice sent")
            fault = ProblemReport("c1:1", ProblemKind.OTHER, "charger fault: F", "f1", "site")
            fault_number = (await desk.file(fault)).number
            await desk.resolve_faults([fault_number])
            await wait_for(lambda: _sent(peer.calls(), version) == 6, timeout_s=15)
            await _drained(outbox)
    assert peer.invalid() == []
    assert [(type(t).__name__, getattr(t, "done", None)) for t in told] == [
        ("ProblemNotice", None), ("ProblemHandled", "acknowledged"),
        ("ProblemHandled", "resolved"), ("ProblemHandled", "noted"),
        ("ProblemNotice", None), ("ProblemHandled", "resolved"),
    ]  # fmt: skip
    shown = _problems(peer.calls(), version)
    reference, fault_reference = f"P-{number:06d}", f"P-{fault_number:06d}"
    if version == "1.6":
        keys = ("reference", "action", "by", "note")
        assert [(m, *(d.get(k) for k in keys)) for m, d in shown] == [
            ("ProblemReport", reference, None, None, None),
            ("ProblemHandled", reference, "acknowledged", "ops", "Technician booked"),
            ("ProblemHandled", reference, "resolved", "ops", "Cable replaced"),
            ("ProblemHandled", reference, "noted", "viv", "Invoice sent"),
            ("ProblemReport", fault_reference, None, None, None),
            ("ProblemHandled", fault_reference, "resolved", "site", "the fault has cleared"),
        ]  # fmt: skip
        assert {d["connectorId"] for _, d in shown[:4]} == {2}
        assert shown[3][1]["state"] == "resolved"  # a note leaves the state as it is
        assert shown[1][1]["timestamp"] == "2026-03-02T07:00:00.000Z"
        return
    report_event, ack, resolved, noted, _, fault_cleared = (d for _, d in shown)
    assert (report_event["eventId"], report_event["actualValue"]) == (number, "true")
    assert (ack["cause"], ack["actualValue"], ack["techCode"]) == (number, "true", "acknowledged")
    assert ack["techInfo"] == f"{reference} acknowledged by ops: Technician booked"
    assert "cleared" not in ack and ack["eventId"] > HANDLED_EVENT_ID_BASE
    assert (resolved["cause"], resolved["actualValue"], resolved["cleared"]) == (
        number, "false", True,
    )  # fmt: skip
    assert resolved["component"] == {"name": "EVSE", "evse": {"id": 2}}
    assert len({ack["eventId"], resolved["eventId"], noted["eventId"]}) == 3
    assert (noted["techCode"], noted["actualValue"], noted["cause"]) == ("noted", "false", number)
    assert noted["techInfo"] == f"{reference} noted by viv: Invoice sent"
    assert fault_cleared["techInfo"] == f"{fault_reference} resolved by site: the fault has cleared"


def _problems(calls: list[dict[str, Any]], version: str) -> list[tuple[str, dict[str, Any]]]:
    """The problem messages the CSMS received, in order: (message id or ``Problem``, data)."""
    if version == "1.6":
        return [
            (c["params"]["messageId"], json.loads(c["params"]["data"]))
            for c in calls
            if c["action"] == "DataTransfer" and c["params"]["vendorId"] == "edge_controller"
        ]
    return [
        ("Problem", e)
        for c in calls
        if c["action"] == "NotifyEvent"
        for e in c["params"]["eventData"]
        if e["variable"]["name"] == "Problem"
    ]


def _sent(calls: list[dict[str, Any]], version: str) -> int:
    return len(_problems(calls, version))


async def _drained(outbox: Any) -> None:
    """Every message acknowledged (the CSMS notes a call just before it answers)."""
    for _ in range(500):
        if await outbox.backlog() == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("messages left in the outbox")
