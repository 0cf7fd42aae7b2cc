"""A device the simulator silences raises one problem report: in the database, on MQTT and at
the bench CSMS (OCPP 1.6 DataTransfer), and is resolved when it answers again, the resolution
told on MQTT and to the CSMS once; a child gateway's fault reaches the CSMS as its station's.
Real simulator, daemon, Mosquitto and bench CSMS."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import eventually
from tests.e2e.test_ocpp import with_uplink
from tests.e2e.test_views import Csms, broker, csms, recording
from tests.e2e.test_web_display import web_config

__all__ = ["broker", "csms"]

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]


async def test_a_silent_charger_raises_one_report_everywhere_and_is_resolved(
    launch: Launch, config: dict[str, Any], broker: Any, csms: Csms
) -> None:
    config = with_uplink(web_config(config, broker), csms.port)
    config["web"]["fault_report_after_s"] = 2.0
    site = await launch(config)

    def reports() -> list[tuple[Any, ...]]:
        return site.query(
            "SELECT number, connector_id, kind, text, source, state FROM problem_reports"
            " WHERE source = 'site' ORDER BY number"
        )

    def transfers() -> list[dict[str, Any]]:
        return [p for _, a, p in csms.bench.record.calls if a == "DataTransfer"]

    async with recording(broker) as mqtt:
        await site.control.inject_fault("keba", "no_answer")

        async def everywhere() -> bool:
            return bool(reports() and mqtt.on("problems/events") and transfers())

        await eventually(everywhere, "the report in the database, on MQTT and at the CSMS", 60)
        await asyncio.sleep(3.0)  # the fault lasts: still one report
        ((number, connector, kind, text, source, state),) = reports()
        assert (connector, kind, source, state) == ("keba:1", "other", "site", "open")
        assert text.startswith("device keba has not answered for ")
        (event,) = mqtt.on("problems/events")
        assert (event["reference"], event["connector_id"]) == (f"P-{number:06d}", "keba:1")
        (payload,) = transfers()
        data = json.loads(payload["data"])
        assert (data["reference"], data["source"], data["connectorId"]) == (
            f"P-{number:06d}", "site", 1,
        )  # fmt: skip
        await site.control.clear_faults("keba")

        async def resolved() -> bool:
            return [r[5] for r in reports()] == ["resolved"]

        await eventually(resolved, "the report resolved once keba answers", 60)

        async def resolution_told() -> bool:
            return len(mqtt.on("problems/events")) == 2 and len(transfers()) == 2

        await eventually(resolution_told, "the resolution on MQTT and at the CSMS")
    reported, cleared = mqtt.on("problems/events")  # one report, one resolution: nothing more
    assert (cleared["event"], cleared["reference"], cleared["by"]) == (
        "resolved", reported["reference"], "site",
    )  # fmt: skip
    assert [t["messageId"] for t in transfers()] == ["ProblemReport", "ProblemHandled"]


async def test_a_child_that_hears_no_parent_tells_the_csms_as_a_fault_of_its_station(
    launch: Launch, config: dict[str, Any], broker: Any, csms: Csms
) -> None:
    """A child gateway whose parent never sends a budget shows the gateway fault after 30 s:
    the bench CSMS hears it as the station's (OCPP 1.6 connector 0: OtherError, the fault's
    key as the vendor's code; the problem report on connector 0), once."""
    config = with_uplink(web_config(config, broker), csms.port)
    config["site"]["role"] = "child"
    config["site"]["gateways"] = {
        "topic_prefix": "edge/no-parent",
        "child_id": "site1",
        "safe_budget_a": 20,
    }
    await launch(config)

    def station() -> list[tuple[str, str | None, str | None]]:
        calls = csms.bench.record.calls
        return [
            (p["errorCode"], p.get("vendorErrorCode"), p.get("info"))
            for _, a, p in calls
            if a == "StatusNotification" and p["connectorId"] == 0
        ]

    def reports() -> list[dict[str, Any]]:
        calls = csms.bench.record.calls
        return [json.loads(p["data"]) for _, a, p in calls if a == "DataTransfer"]

    async def told() -> bool:
        return any(code == "OtherError" for code, _, _ in station()) and bool(reports())

    await eventually(told, "the gateway fault at the CSMS", 90)
    await asyncio.sleep(3.0)  # the fault lasts: told once
    (clear, (code, key, info)) = station()
    assert clear == ("NoError", None, None) and (code, key) == ("OtherError", "no_parent")
    assert info is not None and info.startswith("gateway: no budget from a parent")
    assert len(info) == 50  # the 1.6 schema's most, cut
    (report,) = reports()
    assert (report["connectorId"], report["source"]) == (0, "site")
    assert report["text"].startswith("gateway fault: no budget from a parent")
