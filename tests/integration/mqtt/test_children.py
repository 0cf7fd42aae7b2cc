"""A parent gateway's children on MQTT: one retained state per child, in the status API's
shape, published on change; a child's retained state left by a child no longer configured is
cleared."""

from __future__ import annotations

import asyncio
import dataclasses

import aiomqtt
import pytest

from edge_controller.domain.snapshot import ChildView
from edge_controller.telemetry import MqttService
from tests.integration.mqtt.broker import PREFIX, USERS, Mosquitto
from tests.integration.mqtt.conftest import (
    CONNECTORS,
    RecordingSink,
    edge_settings,
    running,
    wait_until,
)
from tests.integration.mqtt.helpers import app_client, as_json, site_view, topic, wait_message

pytestmark = pytest.mark.integration

HALL_A = ChildView("hall-a", 0.42, (24.0, 24.0, 24.0), (24.0, 24.0, 24.0), lost=False)


def _parent(broker: Mosquitto, sink: RecordingSink) -> MqttService:
    return MqttService(
        edge_settings(broker, ha_discovery=False),
        prefix=PREFIX,
        site_id="site1",
        connector_ids=CONNECTORS,
        sink=sink,
        child_ids=("hall-a", "hall-b"),
    )


def _earlier_run(broker: Mosquitto, service: MqttService) -> aiomqtt.Client:
    """An earlier run of the same controller, with its client id: what it left retained."""
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="edge",
        password=USERS["edge"],
        identifier=service.client_id,
        timeout=5.0,
    )


async def test_each_child_is_published_in_the_api_s_shape_when_it_changes(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    service = _parent(broker, sink)
    # (view time, hall-a as the parent sees it then): the first, its age alone moved (held),
    # a lower budget (at once), its age alone 10 s after the last published, lost.
    ticks = [
        (100.0, HALL_A),
        (101.0, dataclasses.replace(HALL_A, report_age_s=0.9)),
        (102.0, dataclasses.replace(HALL_A, report_age_s=0.4, budget_a=(20.0, 20.0, 20.5))),
        (111.0, dataclasses.replace(HALL_A, report_age_s=0.3, budget_a=(20.0, 20.0, 20.5))),
        (112.0, dataclasses.replace(HALL_A, report_age_s=0.7, budget_a=(20.0, 20.0, 20.5))),
        (113.0, dataclasses.replace(HALL_A, report_age_s=2.1, budget_a=None, lost=True)),
    ]
    seen: list[dict[str, object]] = []
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("children/+/state"))
        for at_s, child in ticks:
            view = dataclasses.replace(site_view(at_s), gateway_children=(child,))
            service.publish_site(view)
            await wait_until(lambda: service.stats().queue.pending_states == 0)
        while not seen or seen[-1]["at_s"] != 113.0:
            seen.append(as_json(await wait_message(app, lambda m: True)))
    assert [s["at_s"] for s in seen] == [100.0, 102.0, 112.0, 113.0]
    assert seen[0] == {
        "child_id": "hall-a",
        "report_age_s": 0.42,
        "budget_a": [24.0, 24.0, 24.0],
        "counted_a": [24.0, 24.0, 24.0],
        "lost": False,
        "at_s": 100.0,
    }
    assert seen[1]["budget_a"] == [20.0, 20.0, 20.5]
    assert seen[2]["report_age_s"] == 0.7
    assert (seen[3]["lost"], seen[3]["budget_a"], seen[3]["report_age_s"]) == (True, None, 2.1)


async def test_a_child_no_longer_configured_is_cleared_and_a_configured_one_kept(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    gone = b'{"child_id":"hall-c","report_age_s":1.0,"budget_a":null,"lost":false}'
    kept = b'{"child_id":"hall-b","report_age_s":1.0,"budget_a":null,"lost":false}'
    service = _parent(broker, sink)
    async with _earlier_run(broker, service) as earlier:
        await earlier.publish(topic("children/hall-c/state"), gone, qos=1, retain=True)
        await earlier.publish(topic("children/hall-b/state"), kept, qos=1, retain=True)
    async with running(service):

        async def retained() -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            async with app_client(broker) as app:
                await app.subscribe(topic("children/+/state"))
                await app.subscribe(topic("status"))  # retained too: it ends the replay
                async for message in app.messages:
                    if str(message.topic) == topic("status"):
                        return found
                    assert isinstance(message.payload, bytes)
                    found[str(message.topic)] = message.payload
            return found

        async with asyncio.timeout(10.0):
            while topic("children/hall-c/state") in (shown := await retained()):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    assert shown == {topic("children/hall-b/state"): kept}
