"""Commands from MQTT and the REST API pass the same authorization as a card: the whole daemon,
the simulator, a real mosquitto and the schema-strict CSMS peer (tests/peers) refusing every id
tag."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_mqtt import broker, mqtt_settings
from tests.e2e.test_ocpp import with_uplink
from tests.integration.mqtt.broker import PREFIX, Mosquitto
from tests.integration.mqtt.helpers import app_client, as_json, on_topic, wait_message
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]
__all__ = ["broker"]  # the mosquitto fixture, shared with test_mqtt

CONNECTOR = "hd1:1"
INTRUDER = "INTRUDER"
API_TOKEN = "app-token-0123456789abcdefghij"
WATCH_S = 3.0  # how long nothing may be offered after the refusal (the EV follows in 1 s)


@pytest.fixture
async def refusing_csms() -> AsyncIterator[StrictPeer]:
    async with strict_peer(auth_status="Invalid") as peer:
        yield peer


async def site_on(
    launch: Launch, config: dict[str, Any], peer: StrictPeer, mqtt: dict[str, Any]
) -> E2ESite:
    config["ocpp"]["authorization"].pop("free_vend_id_tag")
    config["mqtt"] = mqtt
    site = await launch(with_uplink(config, peer.port))

    async def booted() -> bool:
        return bool(peer.calls("BootNotification"))

    await eventually(booted, "the daemon booted at the strict CSMS", 30)
    await site.control.plug(CONNECTOR, profile="car3")  # the EV is there: a start would charge

    async def waiting() -> bool:
        shown = {c.connector_id: c for c in (await site.status()).connectors}
        return shown[CONNECTOR].availability.value == "Preparing"

    await eventually(waiting, f"{CONNECTOR} shown Preparing (an EV waits)")
    return site


async def command(broker: Mosquitto, name: str, body: dict[str, Any]) -> dict[str, Any]:
    async with app_client(broker) as app:
        await app.subscribe(f"{PREFIX}/cmd/{name}/response", qos=1)
        await app.publish(f"{PREFIX}/cmd/{name}", json.dumps(body), qos=1)
        reply = await wait_message(app, on_topic(f"{PREFIX}/cmd/{name}/response"), 30.0)
    return as_json(reply)


async def nothing_offered(site: E2ESite) -> None:
    """The charger offers no current for a while, and no session was recorded."""
    for _ in range(int(WATCH_S / 0.25)):
        assert (await site.state())["connectors"][CONNECTOR]["offered_a"] == 0
        await asyncio.sleep(0.25)
    assert site.query("SELECT local_id FROM sessions") == []


async def test_a_start_over_mqtt_is_authorised_like_a_card_and_refused(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, refusing_csms: StrictPeer
) -> None:
    mqtt = mqtt_settings(broker) | {"allowed_commands": ["session_start", "session_stop"]}
    site = await site_on(launch, config, refusing_csms, mqtt)
    body = {"connector": CONNECTOR, "id_tag": INTRUDER, "request_id": "x-1"}
    reply = await command(broker, "session_start", body)
    assert reply["ok"] is False and reply["request_id"] == "x-1"
    assert "not authorised" in reply["error"] and "Invalid" in reply["error"]
    asked = [c["params"]["idTag"] for c in refusing_csms.calls("Authorize")]
    assert asked == [INTRUDER]  # asked exactly like a card, once
    await nothing_offered(site)
    assert refusing_csms.calls("StartTransaction") == []
    assert refusing_csms.invalid() == []
    shown = {c.connector_id: c for c in (await site.status()).connectors}[CONNECTOR]
    assert shown.session_id is None and shown.availability.value == "Preparing"
    assert shown.status_info is not None and "Invalid" in shown.status_info


async def test_with_the_default_config_mqtt_may_not_start_anything(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, refusing_csms: StrictPeer
) -> None:
    site = await site_on(launch, config, refusing_csms, mqtt_settings(broker))
    reply = await command(broker, "session_start", {"connector": CONNECTOR, "id_tag": INTRUDER})
    assert reply["ok"] is False and "not allowed on MQTT" in reply["error"]
    limit = await command(broker, "connector_limit", {"connector": CONNECTOR, "current_a": 6})
    assert limit["ok"] is False and "read-only" in limit["error"]
    await nothing_offered(site)
    assert refusing_csms.calls("Authorize") == [] and refusing_csms.calls("StartTransaction") == []


async def test_a_start_refused_by_the_csms_is_refused_alike_over_rest_and_mqtt(
    launch: Launch,
    config: dict[str, Any],
    broker: Mosquitto,
    refusing_csms: StrictPeer,
    tmp_path: Path,
) -> None:
    (tmp_path / "app.token").write_text(API_TOKEN)
    (tmp_path / "app.token").chmod(0o600)
    config["web"] = {
        "enabled": True,
        "port": free_port(),
        "api_tokens": {
            "app": {
                "token_file": str(tmp_path / "app.token"),
                "allowed_commands": ["session_start"],
            }
        },
    }
    mqtt = mqtt_settings(broker) | {"allowed_commands": ["session_start"]}
    site = await site_on(launch, config, refusing_csms, mqtt)
    url = f"http://127.0.0.1:{config['web']['port']}/api/v1/connectors/{CONNECTOR}/start"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url,
            json={"id_tag": INTRUDER, "request_id": "w-1"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as response,
    ):
        status, answer = response.status, await response.json()
    assert (status, answer["code"]) == (409, "command_refused")
    assert "not authorised" in answer["message"] and "Invalid" in answer["message"]
    reply = await command(broker, "session_start", {"connector": CONNECTOR, "id_tag": INTRUDER})
    assert reply["ok"] is False and reply["error"] == answer["message"]  # the same answer
    asked = [c["params"]["idTag"] for c in refusing_csms.calls("Authorize")]
    assert asked == [INTRUDER, INTRUDER]  # asked like a card, once per entry point
    await nothing_offered(site)
    assert refusing_csms.calls("StartTransaction") == [] and refusing_csms.invalid() == []
