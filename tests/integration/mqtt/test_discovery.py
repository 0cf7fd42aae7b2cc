"""Home Assistant discovery configs as Home Assistant reads them from the broker."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from tests.integration.mqtt.broker import USERS, Mosquitto
from tests.integration.mqtt.conftest import RecordingSink, make_service, running, wait_until
from tests.integration.mqtt.helpers import (
    app_client,
    as_json,
    site_view,
    topic,
    wait_message,
)

pytestmark = pytest.mark.integration
DISCOVERY = "homeassistant/sensor/edge_site1"
EXPECTED_CONFIGS = 11 + 2 * 7  # site sensors + 7 per connector


Config = dict[str, object]


async def _collect_configs(app: aiomqtt.Client, count: int) -> dict[str, Config]:
    configs: dict[str, Config] = {}
    async with asyncio.timeout(10):
        async for message in app.messages:
            if str(message.topic).startswith("homeassistant/"):
                assert message.retain
                configs[str(message.topic)] = as_json(message)
                if len(configs) == count:
                    return configs
    raise AssertionError("stream ended")


async def _published_configs(broker: Mosquitto, sink: RecordingSink) -> dict[str, Config]:
    service = make_service(broker, sink)
    async with running(service):
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        async with app_client(broker) as app:
            await app.subscribe("homeassistant/#")
            return await _collect_configs(app, EXPECTED_CONFIGS)


async def test_connector_sensor_configs(broker: Mosquitto, sink: RecordingSink) -> None:
    configs = await _published_configs(broker, sink)
    power = configs[f"{DISCOVERY}/wb1-1_power/config"]
    assert power["state_topic"] == topic("connectors/wb1-1/state")
    assert power["unit_of_measurement"] == "W"
    assert power["device_class"] == "power"
    assert power["state_class"] == "measurement"
    assert power["availability_topic"] == topic("status")
    assert power["value_template"] == (
        "{{ value_json.power_w if value_json.power_w is not none else None }}"
    )
    device = power["device"]
    assert isinstance(device, dict)
    assert device["identifiers"] == ["edge_controller_site1_wb1-1"]
    assert {"name", "manufacturer", "model"} <= device.keys()
    energy = configs[f"{DISCOVERY}/wb1-1_session_energy/config"]
    assert (energy["unit_of_measurement"], energy["device_class"], energy["state_class"]) == (
        "Wh",
        "energy",
        "total_increasing",
    )
    current = configs[f"{DISCOVERY}/wb1-2_measured_current_a_l3/config"]
    assert (current["unit_of_measurement"], current["device_class"]) == ("A", "current")


async def test_state_and_site_sensor_configs(broker: Mosquitto, sink: RecordingSink) -> None:
    configs = await _published_configs(broker, sink)
    state = configs[f"{DISCOVERY}/wb1-1_state/config"]
    assert state["device_class"] == "enum"
    assert state["options"] == [
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEV",
        "SuspendedEVSE",
        "Finishing",
        "Reserved",
        "Unavailable",
        "Faulted",
    ]
    assert "unit_of_measurement" not in state and "state_class" not in state
    grid = configs[f"{DISCOVERY}/site_grid_current_a_l1/config"]
    assert grid["state_topic"] == topic("site/state")
    assert grid["unit_of_measurement"] == "A"
    site_device = grid["device"]
    assert isinstance(site_device, dict)
    assert site_device["identifiers"] == ["edge_controller_site1"]
    volts = configs[f"{DISCOVERY}/site_grid_voltage_v_l2/config"]
    assert (volts["unit_of_measurement"], volts["device_class"]) == ("V", "voltage")
    power = configs[f"{DISCOVERY}/site_grid_power/config"]
    assert (power["unit_of_measurement"], power["device_class"]) == ("W", "power")
    imported = configs[f"{DISCOVERY}/site_grid_import_energy/config"]
    assert (imported["unit_of_measurement"], imported["state_class"]) == ("Wh", "total_increasing")
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids) == EXPECTED_CONFIGS


async def test_home_assistant_restart_gets_discovery_again(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    service = make_service(broker, sink)
    async with running(service):
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        published = service.stats().published
        service.publish_site(site_view())
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        # Home Assistant announces its (re)start with a birth message.
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="ha", password=USERS["ha"], identifier="ha-birth"
        ) as ha:
            await ha.publish("homeassistant/status", b"online", qos=1)
        await wait_until(lambda: service.stats().published >= published + 4 + EXPECTED_CONFIGS)


async def test_discovery_can_be_turned_off(broker: Mosquitto, sink: RecordingSink) -> None:
    service = make_service(broker, sink, ha_discovery=False)
    async with running(service):
        service.publish_site(site_view())
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        async with app_client(broker) as app:
            await app.subscribe("homeassistant/#")
            await app.subscribe(topic("connectors/+/state"))
            first = await wait_message(app, lambda m: True)
    assert str(first.topic).startswith(topic("connectors/"))
    assert service.stats().queue.state_topics == 4  # site, two connectors, one device
