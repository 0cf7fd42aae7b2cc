"""MQTT shows the truth of the simulated site, and its commands reach the chargers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import eventually
from tests.integration.mqtt.broker import PREFIX, Mosquitto
from tests.integration.mqtt.helpers import app_client

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(120)]

CHARGING = ("hd1:1", "charx:3")  # a three-phase EV on RTU, a single-phase one on TCP
IDLE = "keba:1"
LIMITED_A = 8.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    mosquitto = Mosquitto(workdir)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


class Retained:
    """The latest payload of every connector state topic, as an independent subscriber sees it."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.states: dict[str, dict[str, Any]] = {}

    async def collect(self) -> None:
        async for message in self.client.messages:
            topic = str(message.topic)
            connector = topic.removeprefix(f"{PREFIX}/connectors/").removesuffix("/state")
            self.states[connector] = json.loads(bytes(message.payload))


@contextlib.asynccontextmanager
async def watching(broker: Mosquitto) -> AsyncIterator[Retained]:
    async with app_client(broker) as client, asyncio.TaskGroup() as group:
        await client.subscribe(f"{PREFIX}/connectors/+/state", qos=1)
        retained = Retained(client)
        task = group.create_task(retained.collect())
        try:
            yield retained
        finally:
            task.cancel()


def mqtt_settings(broker: Mosquitto) -> dict[str, Any]:
    return {
        "enabled": True,
        "port": broker.port,
        "username": "edge",
        "password_file": str(broker.edge_password_file),
        "prefix": PREFIX,
        "ha_discovery": False,
        "keepalive_s": 5,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 1.0,
    }


async def test_retained_state_matches_the_simulator_and_commands_reach_it(
    launch: Launch, config: dict[str, Any], broker: Mosquitto
) -> None:
    config["mqtt"] = mqtt_settings(broker) | {"allowed_commands": ["connector_limit"]}
    site = await launch(config)
    for cid in CHARGING:
        await site.control.plug(cid, profile="car1" if cid == "charx:3" else "car3")

    async with watching(broker) as mqtt:

        async def matches(limited: tuple[str, ...] = ()) -> bool:
            sim = (await site.state())["connectors"]
            for cid in CHARGING:
                shown = mqtt.states.get(cid.replace(":", "-"), {})
                offered_a = sim[cid]["offered_a"]
                if shown.get("availability") != "Charging" or sim[cid]["state"] != "C":
                    return False
                if shown.get("offered_current_a") != offered_a or offered_a < 6:
                    return False
                if cid in limited and offered_a != LIMITED_A:
                    return False
            idle = mqtt.states.get(IDLE.replace(":", "-"), {})
            return idle.get("availability") == "Available" and idle.get("offered_current_a") == 0

        await eventually(matches, "MQTT state equal to the simulator's")

        async def above_limit() -> bool:  # so the command's effect cannot be a ramp step
            return bool((await site.state())["connectors"]["hd1:1"]["offered_a"] > LIMITED_A + 1)

        await eventually(above_limit, "hd1:1 offered more than the limit to come")

        command = {"connector": "hd1:1", "current_a": LIMITED_A, "request_id": "e2e-1"}
        await mqtt.client.publish(f"{PREFIX}/cmd/connector_limit", json.dumps(command), qos=1)
        await eventually(lambda: matches(("hd1:1",)), "the limit set over MQTT at the charger")
        assert mqtt.states["hd1-1"]["offered_current_a"] == LIMITED_A
