"""An operator acknowledges, resolves and notes on a driver's problem report in the console:
each change is kept, published once on MQTT and sent to the CSMS through the outbox after the
report (OCPP 1.6 DataTransfer, message id ``ProblemHandled``). Real simulator, daemon, Mosquitto
and the schema-strict CSMS (tests/peers); zero schema rejections."""

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
    config = with_uplink(console_config(config, tmp_path), peer.port)
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
        ("resolved", reference, "ops", "Cable replaced"),
        ("noted", reference, "ops", "Invoice sent"),
    ]
    sent = [(m, d["reference"], d.get("action"), d.get("note")) for m, d in problem_transfers(peer)]
    assert sent == [
        ("ProblemReport", reference, None, None),
        ("ProblemHandled", reference, "acknowledged", "Technician booked"),
        ("ProblemHandled", reference, "resolved", "Cable replaced"),
        ("ProblemHandled", reference, "noted", "Invoice sent"),
    ]
    assert {d["connectorId"] for _, d in problem_transfers(peer)} == {3}  # charx:2
    assert peer.invalid() == []
    stored = site.query("SELECT state, changed_by, note FROM problem_reports")
    assert stored == [("resolved", "ops", "Invoice sent")]  # the last change, as told
    notes = site.query("SELECT action, changed_by, note FROM problem_notes ORDER BY id")
    assert notes == [
        ("acknowledged", "ops", "Technician booked"), ("resolved", "ops", "Cable replaced"),
        ("noted", "ops", "Invoice sent"),
    ]  # fmt: skip

    async def acked() -> bool:
        rows = site.query(
            "SELECT event, state FROM outbox WHERE event LIKE 'problem_%' ORDER BY seq"
        )
        return rows == [("problem_reported", "acked")] + [("problem_handled", "acked")] * 3

    await eventually(acked, "every outbox row acknowledged once")
