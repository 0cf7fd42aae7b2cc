"""An independent subscriber (aiomqtt, user "app") and sample views for the MQTT tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt

from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from tests.integration.mqtt.broker import PREFIX, USERS, Mosquitto


def app_client(broker: Mosquitto) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="app",
        password=USERS["app"],
        identifier=f"app-{uuid.uuid4().hex[:8]}",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=5.0,
    )


async def wait_message(
    client: aiomqtt.Client, match: Callable[[aiomqtt.Message], bool], timeout_s: float = 10.0
) -> aiomqtt.Message:
    async with asyncio.timeout(timeout_s):
        async for message in client.messages:
            if match(message):
                return message
    raise AssertionError("message stream ended")


async def wait_all(
    client: aiomqtt.Client,
    matches: list[Callable[[aiomqtt.Message], bool]],
    timeout_s: float = 10.0,
) -> list[aiomqtt.Message]:
    """Waits until every matcher has matched a message, in any order."""
    found: list[aiomqtt.Message | None] = [None] * len(matches)
    async with asyncio.timeout(timeout_s):
        async for message in client.messages:
            for i, match in enumerate(matches):
                if found[i] is None and match(message):
                    found[i] = message
            if all(m is not None for m in found):
                return [m for m in found if m is not None]
    raise AssertionError("message stream ended")


def on_topic(topic: str, **fields: Any) -> Callable[[aiomqtt.Message], bool]:
    """Matches a message on ``topic`` whose JSON payload has the given field values."""

    def match(message: aiomqtt.Message) -> bool:
        if str(message.topic) != topic:
            return False
        if not fields:
            return True
        body = as_json(message)
        return all(body.get(k) == v for k, v in fields.items())

    return match


def on_payload(topic: str, payload: bytes) -> Callable[[aiomqtt.Message], bool]:
    return lambda message: str(message.topic) == topic and message.payload == payload


def as_json(message: aiomqtt.Message) -> dict[str, Any]:
    assert isinstance(message.payload, bytes)
    body: dict[str, Any] = json.loads(message.payload)
    return body


def topic(suffix: str) -> str:
    return f"{PREFIX}/{suffix}"


def site_view(at_s: float = 1.0, power_w: float = 7360.0) -> SiteView:
    device = DeviceView(
        "wb1", available=True, requests=100, errors={"timeout": 2}, latency_p50_ms=8.0
    )
    return SiteView(
        site_id="site1",
        grid_current_a=(20.0, 21.0, 19.5),
        grid_limit_a=40.0,
        headroom_a=(20.0, 19.0, 20.5),
        grid_reading_age_s=0.4,
        connectors=(_charging(at_s, power_w), _faulted(at_s)),
        devices=(device,),
        at_s=at_s,
    )


def _charging(at_s: float, power_w: float) -> ConnectorView:
    return ConnectorView(
        connector_id="wb1:1",
        availability=Availability.CHARGING,
        offered_current_a=16.0,
        limit_reason="fuse L2 32A",
        measured_current_a=(10.5, 10.4, 10.6),
        power_w=power_w,
        session_energy_wh=1234.5,
        session_id="s-1",
        at_s=at_s,
    )


def _faulted(at_s: float) -> ConnectorView:
    return ConnectorView(
        connector_id="wb1:2",
        availability=Availability.FAULTED,
        offered_current_a=0.0,
        limit_reason="faulted",
        fault_text="RCD tripped",
        at_s=at_s,
    )
