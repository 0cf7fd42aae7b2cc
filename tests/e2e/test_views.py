"""What the daemon shows, cross-checked against its source: the simulated devices, the clock.

Real simulator, daemon, Mosquitto and bench CSMS. An independent MQTT subscriber records every
message from before the daemon starts; ``edge-controller status --json`` is the real command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge_controller.sim.csms import BenchCsms
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.site import CONNECTORS
from tests.e2e.test_mqtt import mqtt_settings
from tests.e2e.test_ocpp import with_uplink
from tests.integration.mqtt.broker import PREFIX, Mosquitto
from tests.integration.mqtt.helpers import app_client
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

CHARGING = {"hd1:1": ("hd1", "power_total"), "charx:3": ("charx", "power_total@3")}
MODBUS_DEVICES = {"keba", "charx", "hd1", "hd2", "grid"}
TIME_FIELDS = ("at_s", "last_success_s")


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


@dataclass
class Csms:
    bench: BenchCsms
    port: int

    def statuses(self) -> list[tuple[int, str]]:
        calls = self.bench.record.calls
        return [(p["connectorId"], p["status"]) for _, a, p in calls if a == "StatusNotification"]


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    peer = Csms(BenchCsms(), free_port())
    server = await peer.bench.start("127.0.0.1", peer.port)
    try:
        yield peer
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Recorded:
    """Every MQTT message under the site prefix and Home Assistant's, in arrival order."""

    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)

    def on(self, suffix: str) -> list[dict[str, Any]]:
        return [body for topic, body in self.messages if topic == f"{PREFIX}/{suffix}"]


@contextlib.asynccontextmanager
async def recording(broker: Mosquitto) -> AsyncIterator[Recorded]:
    recorded = Recorded()

    async def collect(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if not isinstance(message.payload, bytes) or not message.payload.startswith(b"{"):
                continue  # the plain-text online/offline status
            body = json.loads(message.payload)
            recorded.messages.append((str(message.topic), body))
            recorded.latest[str(message.topic)] = body

    async with app_client(broker) as client, asyncio.TaskGroup() as group:
        await client.subscribe(f"{PREFIX}/#", qos=1)
        await client.subscribe("homeassistant/#", qos=1)
        task = group.create_task(collect(client))
        try:
            yield recorded
        finally:
            task.cancel()


def site_config(config: dict[str, Any], broker: Mosquitto, csms_port: int) -> dict[str, Any]:
    config = with_uplink(config, csms_port)
    config["mqtt"] = mqtt_settings(broker) | {"ha_discovery": True}
    return config


async def status_json(site: E2ESite) -> dict[str, Any]:
    """`edge-controller status --json`, the real command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge_controller",
        "status",
        "--json",
        "--config",
        str(site.config_path),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    data: dict[str, Any] = json.loads(out)
    return data


def _connector_state(topic: str) -> bool:
    """A connector's state topic (beside it: its display messages and web payment)."""
    return topic.startswith(f"{PREFIX}/connectors/") and topic.endswith("/state")


async def test_after_a_start_nothing_is_shown_before_it_was_read(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, csms: Csms
) -> None:
    site = await launch(site_config(config, broker, csms.port), daemon=False)
    async with recording(broker) as mqtt:
        await site.start_daemon()

        async def everything_said() -> bool:
            shown = {t for t, _ in mqtt.messages if _connector_state(t)}
            reported = {number for number, _ in csms.statuses()}
            every = set(range(len(CONNECTORS) + 1))
            return (
                len(shown) == len(CONNECTORS) and bool(mqtt.on("site/state")) and reported == every
            )

        await eventually(everything_said, "MQTT and OCPP said everything once")
        await asyncio.sleep(2.0)  # and a while after
    # The simulated site answers from the first request on: every first word is the truth.
    connectors = [b for t, b in mqtt.messages if _connector_state(t)]
    assert [c for c in connectors if c["availability"] == "Unavailable"] == []
    headroom = [s["headroom_min_a"] for s in mqtt.on("site/state")]
    assert headroom and all(h is not None and h > 0 for h in headroom), headroom
    statuses = csms.statuses()
    assert [s for s in statuses if s[0] > 0 and s[1] == "Unavailable"] == [], statuses


async def test_power_grid_and_times_are_what_the_devices_and_the_clock_say(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, csms: Csms
) -> None:
    started_wall_s = time.time()
    site = await launch(site_config(config, broker, csms.port))
    async with recording(broker) as mqtt:
        for cid in CHARGING:
            await site.control.plug(cid, profile="car1" if cid == "charx:3" else "car3")

        async def power_agrees() -> bool:
            return await _power_agrees(site, mqtt)

        await eventually(power_agrees, "power: simulated chargers = MQTT = status", 60)
        await eventually(lambda: _grid_agrees(site, mqtt), "grid: simulator = MQTT = status")
        shown = await status_json(site)
        now_wall_s = time.time()

    # One row per Modbus device (the bus's), none twice.
    assert sorted(d["device_id"] for d in shown["devices"]) == sorted(MODBUS_DEVICES)
    # Every point in time a person or a program reads is wall time, from this test's span.
    stamps = [(f"status {path}", value) for path, value in _times(shown)]
    stamps += [
        (f"mqtt {topic} {path}", value)
        for topic, body in mqtt.messages
        for path, value in _times(body)
    ]
    topics = {topic for topic, _ in mqtt.messages}
    assert {
        f"{PREFIX}/site/state",
        f"{PREFIX}/sessions/events",
        f"{PREFIX}/devices/grid/state",
    } <= topics
    assert len(stamps) > 20
    wrong = [(where, v) for where, v in stamps if not started_wall_s - 1 <= v <= now_wall_s + 1]
    assert wrong == [], (started_wall_s, now_wall_s, wrong[:5])
    # Home Assistant is told about the grid's voltage, power and energy.
    configs = {t.split("/")[-2] for t in topics if t.startswith("homeassistant/")}
    assert {"site_grid_power", "site_grid_voltage_v_l1", "site_grid_import_energy"} <= configs


async def _power_agrees(site: E2ESite, mqtt: Recorded) -> bool:
    """The power each charging simulated charger reports is what MQTT and status show."""
    shown = {c["connector_id"]: c for c in (await status_json(site))["connectors"]}
    for cid, (device, point) in CHARGING.items():
        reported_w = (await site.control.device(device))["points"][point]
        published = mqtt.latest.get(f"{PREFIX}/connectors/{cid.replace(':', '-')}/state", {})
        if reported_w < 1000 or shown[cid]["power_w"] is None:
            return False  # not charging yet
        if abs(published.get("power_w", -1) - reported_w) > 0.5:
            return False
        if abs(shown[cid]["power_w"] - reported_w) > 0.5:
            return False
    return True


async def _grid_agrees(site: E2ESite, mqtt: Recorded) -> bool:
    """The grid meter's power, voltage and energy as simulated, in status and on MQTT."""
    before = (await site.state())["meters"]["grid"]
    shown = await status_json(site)
    after = (await site.state())["meters"]["grid"]
    published = mqtt.latest.get(f"{PREFIX}/site/state", {})
    power_w = sum(after["power_w"])
    if abs(sum(before["power_w"]) - power_w) > 1 or shown["grid_power_w"] is None:
        return False  # the load is still changing
    # Energy only grows: what is shown was read a moment ago, a few seconds' worth less at most
    # (and the register's float may round it up a little).
    recent_wh = power_w * 10 / 3600 + 1

    def energy_ok(value: float | None) -> bool:
        return value is not None and -1 <= after["import_wh"] - value <= recent_wh

    mqtt_volts = published.get("grid_voltage_v") or {}
    return (
        abs(shown["grid_power_w"] - power_w) <= 1
        and abs((published.get("grid_power_w") or 0) - power_w) <= 1
        and all(
            abs(v - s) <= 0.1
            for v, s in zip(shown["grid_voltage_v"], after["voltage_v"], strict=True)
        )
        and all(
            abs(mqtt_volts.get(f"l{i}", 0) - v) <= 0.1 for i, v in enumerate(after["voltage_v"], 1)
        )
        and energy_ok(shown["grid_import_energy_wh"])
        and energy_ok(published.get("grid_import_energy_wh"))
        and abs(shown["grid_export_energy_wh"] - after["export_wh"]) <= 1
    )


def _times(body: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every time field in a JSON body, at any depth, with its path."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in TIME_FIELDS and value is not None:
                yield f"{path}.{key}", float(value)
            else:
                yield from _times(value, f"{path}.{key}")
    elif isinstance(body, list):
        for n, item in enumerate(body):
            yield from _times(item, f"{path}[{n}]")
