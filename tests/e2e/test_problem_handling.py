"""An operator acknowledges and notes on a driver's problem report in the console and an
operator's app resolves it over the REST API: each change is kept, published once on MQTT and
sent to the CSMS through the outbox after the report (OCPP 1.6 DataTransfer, message id
``ProblemHandled``), the API's as the console's with the token's name as who. Real simulator,
daemon, Mosquitto and the schema-strict CSMS (tests/peers); zero schema rejections."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import eventually
from tests.e2e.test_mqtt import broker, mqtt_settings
from tests.e2e.test_ocpp import with_uplink
from tests.e2e.test_views import recording
from tests.e2e.test_web_console import CSRF, PASSWORDS, base, console_config, login
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

__all__ = ["broker"]
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

REFERENCE = re.compile(r'data-reference="(P-\d{6,})"')
APP_TOKEN = "ops-app-token-0123456789abcdef"


def with_app_token(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A REST API token that may change problem reports."""
    path = tmp_path / "ops-app.token"
    path.write_text(APP_TOKEN + "\n")
    path.chmod(0o600)
    config["web"]["api_tokens"] = {
        "ops-app": {"token_file": str(path), "allowed_commands": ["problems"]}
    }
    return config


@pytest.fixture
async def peer() -> AsyncIterator[StrictPeer]:
    async with strict_peer() as found:
        yield found


def problem_transfers(peer: StrictPeer) -> list[tuple[str, dict[str, Any]]]:
    return [
        (c["params"]["messageId"], json.loads(c["params"]["data"]))
        for c in peer.calls("DataTransfer")
        if c["params"]["vendorId"] == "edge_controller"
    ]


async def test_acknowledged_and_resolved_reports_reach_mqtt_and_the_csms(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, peer: StrictPeer, tmp_path: Path
) -> None:
    config = with_uplink(with_app_token(console_config(config, tmp_path), tmp_path), peer.port)
    config["mqtt"] = mqtt_settings(broker)
    site = await launch(config)
    url = base(config)
    report = {"connector": "charx:2", "kind": "cable", "text": "Plug cracked", "submission": "s1"}
    async with (
        recording(broker) as mqtt,
        aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)  # the console is on 127.0.0.1
        ) as http,
    ):
        async with http.post(f"{url}/display/report", data=report, headers={"Origin": url}) as r:
            assert r.status == 200
            (reference,) = REFERENCE.findall(await r.text())
        number = int(reference.removeprefix("P-"))
        csrf = CSRF.findall(await login(http, url, "ops", PASSWORDS["ops"]))[0]
        for state, note in (
            ("acknowledged", "Technician booked"), ("resolved", "Cable replaced"),
            ("noted", "Invoice sent"),
        ):  # fmt: skip
            if state == "resolved":  # the operator's app, over the REST API
                async with http.post(
                    f"{url}/api/v1/problems/{reference}/resolve", json={"note": note},
                    headers={"Authorization": f"Bearer {APP_TOKEN}"},
                ) as r:  # fmt: skip
                    assert r.status == 200, await r.text()
                continue
            form = {"csrf": csrf, "state": state, "note": note}
            async with http.post(
                f"{url}/console/problems/{number}/state", data=form, headers={"Origin": url},
                allow_redirects=False,
            ) as r:  # fmt: skip
                assert r.status == 303, await r.text()

        async def told() -> bool:
            return len(mqtt.on("problems/events")) == 4 and len(problem_transfers(peer)) == 4

        await eventually(told, "the report and every change on MQTT and at the CSMS", 30)
    events = [(e["event"], e["reference"], e.get("by"), e.get("note"))
              for e in mqtt.on("problems/events")]  # fmt: skip
    assert events == [
        ("reported", reference, None, None),
        ("acknowledged", reference, "ops", "Technician booked"),
        ("resolved", reference, "token:ops-app", "Cable replaced"),
        ("noted", reference, "ops", "Invoice sent"),
    ]
    sent = [(m, d["reference"], d.get("action"), d.get("by"), d.get("note"))
            for m, d in problem_transfers(peer)]  # fmt: skip
    assert sent == [
        ("ProblemReport", reference, None, None, None),
        ("ProblemHandled", reference, "acknowledged", "ops", "Technician booked"),
        ("ProblemHandled", reference, "resolved", "token:ops-app", "Cable replaced"),
        ("ProblemHandled", reference, "noted", "ops", "Invoice sent"),
    ]
    assert {d["connectorId"] for _, d in problem_transfers(peer)} == {3}  # charx:2
    assert peer.invalid() == []
    stored = site.query("SELECT state, changed_by, note FROM problem_reports")
    assert stored == [("resolved", "ops", "Invoice sent")]  # the last change, as told
    notes = site.query("SELECT action, changed_by, note FROM problem_notes ORDER BY id")
    assert notes == [
        ("acknowledged", "ops", "Technician booked"),
        ("resolved", "token:ops-app", "Cable replaced"), ("noted", "ops", "Invoice sent"),
    ]  # fmt: skip

    async def acked() -> bool:
        rows = site.query(
            "SELECT event, state FROM outbox WHERE event LIKE 'problem_%' ORDER BY seq"
        )
        return rows == [("problem_reported", "acked")] + [("problem_handled", "acked")] * 3

    await eventually(acked, "every outbox row acknowledged once")
