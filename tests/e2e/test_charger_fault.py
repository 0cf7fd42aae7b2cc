"""A charger the simulator puts in its fault state (CP state F, the vendor's error code) raises
exactly one problem report: on MQTT, in the console and the REST API, and at the CSMS (OCPP 1.6
DataTransfer through the outbox), none again while the fault lasts, and one resolution when it
clears. Real simulator, daemon, Mosquitto and the schema-strict CSMS (tests/peers)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import eventually
from tests.e2e.test_mqtt import broker, mqtt_settings
from tests.e2e.test_ocpp import with_uplink
from tests.e2e.test_problem_handling import peer, problem_transfers
from tests.e2e.test_views import recording
from tests.e2e.test_web_console import PASSWORDS, base, console_config, login
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.ocpp.strict_peer import StrictPeer
from tests.openapi_check import check_answer

__all__ = ["broker", "peer"]
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

TOKEN = "ops-api-token-0123456789abcdef"
CID = "keba:1"
KEBA_ERROR = 4  # the KEBA's status code "charging station error" (its profile's faults)
LASTS_S = 4.0  # how long the test watches the fault go on (the control loop looks each second)


def with_token(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "api.token").write_text(TOKEN)
    (tmp_path / "api.token").chmod(0o600)
    config["web"]["api_tokens"] = {"ops": {"token_file": str(tmp_path / "api.token")}}
    return config


async def test_a_charger_fault_raises_one_report_everywhere_while_it_lasts(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, peer: StrictPeer, tmp_path: Path
) -> None:
    config = with_token(with_uplink(console_config(config, tmp_path), peer.port), tmp_path)
    config["mqtt"] = mqtt_settings(broker)
    site = await launch(config)
    url, auth = base(config), {"Authorization": f"Bearer {TOKEN}"}

    def stored() -> list[tuple[Any, ...]]:
        return site.query(
            "SELECT number, connector_id, text, source, state FROM problem_reports ORDER BY number"
        )

    async with recording(broker) as mqtt, aiohttp.ClientSession() as http:
        await site.control.inject_fault("keba", "charger_fault", error_code=KEBA_ERROR)

        async def everywhere() -> bool:
            return bool(stored() and mqtt.on("problems/events") and problem_transfers(peer))

        await eventually(everywhere, "the report in the database, on MQTT and at the CSMS", 30)
        async with http.get(f"{url}/api/v1/connectors/{CID}", headers=auth) as r:
            shown = await r.json()
        assert shown["availability"] == "Faulted"
        await asyncio.sleep(LASTS_S)  # the fault goes on: nothing raised again
        ((number, connector, text, source, state),) = stored()
        reference = f"P-{number:06d}"
        assert (connector, source, state) == (CID, "site", "open")
        assert text == f"charger fault: {shown['fault_text']}" and "error" in text
        (event,) = mqtt.on("problems/events")
        assert (event["event"], event["reference"], event["connector_id"], event["text"]) == (
            "reported", reference, CID, text,
        )  # fmt: skip
        ((message, data),) = problem_transfers(peer)
        assert (message, data["reference"], data["connectorId"], data["text"]) == (
            "ProblemReport", reference, 1, text,
        )  # fmt: skip
        async with http.get(f"{url}/api/v1/problems?open=true", headers=auth) as r:
            listed = await r.json()
        assert [(p["reference"], p["state"], p["text"]) for p in listed] == [
            (reference, "open", text)
        ]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as console:
            page = await login(console, url, "eve", PASSWORDS["eve"])  # a viewer sees it too
        assert page.count(f'data-problem="{reference}"') == 1

        await site.control.clear_faults("keba", "charger_fault")

        async def cleared() -> bool:
            return [r[4] for r in stored()] == ["resolved"] and len(problem_transfers(peer)) == 2

        await eventually(cleared, "the report resolved and the resolution at the CSMS", 30)

        async def resolution_on_mqtt() -> bool:
            return len(mqtt.on("problems/events")) == 2

        await eventually(resolution_on_mqtt, "the resolution on MQTT")
        async with http.get(f"{url}/api/v1/openapi.json") as r:
            doc = await r.json()
        async with http.get(f"{url}/api/v1/problems", headers=auth) as r:
            listed = await r.json()
        check_answer(doc, "get", "/problems", r.status, listed)
    (shown_report,) = listed
    assert (shown_report["state"], shown_report["handled_by"]) == ("resolved", None)
    assert [(n["action"], n["by"], n["note"]) for n in shown_report["notes"]] == [
        ("resolved", "site", "the fault has cleared")
    ]  # the site's resolution is kept with who made it
    _, resolved = mqtt.on("problems/events")
    assert (resolved["event"], resolved["reference"], resolved["by"]) == (
        "resolved",
        reference,
        "site",
    )
    assert [m for m, _ in problem_transfers(peer)] == ["ProblemReport", "ProblemHandled"]
    assert len(stored()) == 1 and peer.invalid() == []
