"""Command round trips through a real broker: valid ones reach the sink, bad ones change nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_controller.domain.commands import (
    Command,
    Origin,
    PayAtTerminal,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    StartSession,
    StopSession,
)
from edge_controller.telemetry import CommandResult
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.conftest import RecordingSink, make_service, running
from tests.integration.mqtt.helpers import app_client, as_json, on_topic, topic, wait_message

pytestmark = pytest.mark.integration

GOOD: list[tuple[str, dict[str, Any], Command]] = [
    ("site_limit", {"current_a": 25}, SetSiteLimit(25.0, origin=Origin.MQTT)),
    ("site_limit", {"current_a": None}, SetSiteLimit(None, origin=Origin.MQTT)),
    (
        "connector_limit",
        {"connector": "wb1-1", "current_a": 10},
        SetConnectorLimit("wb1:1", 10.0, Origin.MQTT),
    ),
    (
        "connector_enabled",
        {"connector": "wb1:2", "enabled": False},
        SetConnectorEnabled("wb1:2", False, Origin.MQTT),
    ),
    (
        "session_start",
        {"connector": "wb1:1", "id_tag": "APP-42"},
        StartSession("wb1:1", "APP-42", Origin.MQTT),
    ),
    ("session_stop", {"connector": "wb1-2"}, StopSession("wb1:2", Origin.MQTT)),
]

BAD: list[tuple[str, bytes, str]] = [
    ("connector_limit", b"not json", "invalid payload"),
    ("connector_limit", b'{"connector": "wb1:1", "current_a": 3}', "IEC 61851 minimum"),
    ("connector_limit", b'{"connector": "wb9:1", "current_a": 10}', "unknown connector"),
    ("connector_limit", b'{"connector": "wb1:1", "current_a": "10"}', "current_a"),
    ("site_limit", b'{"current_a": 20, "extra": 1}', "extra"),
    ("site_limit", b'{"current_a": -1}', "current_a"),
    ("connector_enabled", b'{"connector": "wb1:1"}', "enabled"),
    ("session_start", b'{"connector": "wb1:1", "id_tag": ""}', "id_tag"),
    ("reboot", b"{}", "unknown command"),
    ("pay", b'{"connector": "wb9:1"}', "unknown connector"),
    ("pay", b'{"connector": "wb1:1", "amount": 5}', "amount: Extra inputs"),
]


@pytest.mark.parametrize(
    ("name", "body", "expected"), GOOD, ids=[f"{g[0]}-{i}" for i, g in enumerate(GOOD)]
)
async def test_valid_command_reaches_sink_and_is_answered(
    broker: Mosquitto, sink: RecordingSink, name: str, body: dict[str, Any], expected: Command
) -> None:
    service = make_service(broker, sink)
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("cmd/+/response"))
        await app.publish(topic(f"cmd/{name}"), json.dumps({**body, "request_id": "r-1"}), qos=1)
        reply = as_json(await wait_message(app, on_topic(topic(f"cmd/{name}/response"))))
    assert reply == {"command": name, "request_id": "r-1", "ok": True, "error": None}
    assert sink.commands == [expected]


@pytest.mark.parametrize(
    ("name", "raw", "phrase"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
async def test_bad_command_changes_nothing_and_gets_a_clear_error(
    broker: Mosquitto, sink: RecordingSink, name: str, raw: bytes, phrase: str
) -> None:
    service = make_service(broker, sink)
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("cmd/+/response"))
        await app.publish(topic(f"cmd/{name}"), raw, qos=1)
        reply = as_json(await wait_message(app, on_topic(topic(f"cmd/{name}/response"))))
    assert reply["ok"] is False
    assert phrase in reply["error"]
    assert sink.commands == []
    assert service.stats().commands_refused == 1


class CardHolderSink(RecordingSink):
    """A payment that takes the card holder longer than the command timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.paid = asyncio.Event()

    async def decide(self, command: Command) -> CommandResult:
        if isinstance(command, PayAtTerminal):
            await self.paid.wait()
        return await super().decide(command)


async def test_pay_answers_pending_then_its_outcome_after_the_command_timeout(
    broker: Mosquitto,
) -> None:
    """A card holder takes longer than ``command_timeout_s``: the pay command is answered
    "pending" at once and its outcome later on the same topic; other commands are answered
    meanwhile (the payment does not hold the command loop)."""
    sink = CardHolderSink()
    service = make_service(broker, sink, command_timeout_s=0.3)
    response = topic("cmd/pay/response")
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("cmd/+/response"))
        await app.publish(topic("cmd/pay"), b'{"connector": "wb1-1", "request_id": "p1"}', qos=1)
        first = as_json(await wait_message(app, on_topic(response)))
        assert first == {"command": "pay", "request_id": "p1", "ok": True, "error": None,
                         "pending": True}  # fmt: skip
        await app.publish(topic("cmd/session_stop"), b'{"connector": "wb1:2"}', qos=1)
        other = as_json(await wait_message(app, on_topic(topic("cmd/session_stop/response"))))
        assert other["ok"] is True
        await asyncio.sleep(0.5)  # past the command timeout: no "timed out" answer
        sink.paid.set()
        outcome = as_json(await wait_message(app, on_topic(response)))
    assert outcome == {"command": "pay", "request_id": "p1", "ok": True, "error": None,
                       "pending": False}  # fmt: skip
    assert sink.commands == [StopSession("wb1:2", Origin.MQTT), PayAtTerminal("wb1:1", Origin.MQTT)]


async def test_refusal_by_the_service_is_reported(broker: Mosquitto, sink: RecordingSink) -> None:
    sink.result = CommandResult.failure("connector wb1:1 is in maintenance")
    service = make_service(broker, sink)
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("cmd/+/response"))
        await app.publish(topic("cmd/session_start"), b'{"connector":"wb1:1","id_tag":"X1"}', qos=1)
        reply = as_json(await wait_message(app, on_topic(topic("cmd/session_start/response"))))
    assert reply["ok"] is False
    assert reply["error"] == "connector wb1:1 is in maintenance"


async def test_retained_command_is_refused(broker: Mosquitto, sink: RecordingSink) -> None:
    service = make_service(broker, sink)
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("cmd/+/response"))
        await app.publish(topic("cmd/site_limit"), b'{"current_a": 10}', qos=1, retain=True)
        reply = as_json(await wait_message(app, on_topic(topic("cmd/site_limit/response"))))
    assert reply["ok"] is False
    assert "retain" in reply["error"]
    assert sink.commands == []


async def test_v5_response_topic_and_correlation_data(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    service = make_service(broker, sink)
    reply_topic = topic("cmd/replies/app-7")
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = reply_topic
    props.CorrelationData = b"corr-123"
    async with running(service), app_client(broker) as app:
        await app.subscribe(reply_topic)
        await app.publish(topic("cmd/site_limit"), b'{"current_a": 30}', qos=1, properties=props)
        reply = await wait_message(app, on_topic(reply_topic))
    assert as_json(reply)["ok"] is True
    assert reply.properties is not None
    assert getattr(reply.properties, "CorrelationData", None) == b"corr-123"
    assert sink.commands == [SetSiteLimit(30.0, origin=Origin.MQTT)]


async def test_response_topic_outside_the_prefix_is_not_written(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    service = make_service(broker, sink)
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = topic("status")  # would overwrite the site's status
    props.CorrelationData = b"c-9"
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("cmd/+/response"))
        body = b'{"connector":"wb1:1"}'
        await app.publish(topic("cmd/session_stop"), body, qos=1, properties=props)
        reply = await wait_message(app, on_topic(topic("cmd/session_stop/response")))
    assert as_json(reply)["ok"] is True
    assert getattr(reply.properties, "CorrelationData", None) == b"c-9"
