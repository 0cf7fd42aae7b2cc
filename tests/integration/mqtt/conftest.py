"""Fixtures: a real Mosquitto per test, and the MQTT service under test wired to it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_controller.config.settings import MqttSettings
from edge_controller.domain.commands import Command
from edge_controller.telemetry import CommandResult, MqttService
from edge_controller.telemetry.command_parse import COMMANDS
from tests.integration.mqtt.broker import PREFIX, Mosquitto

CONNECTORS = ("wb1:1", "wb1:2")


class RecordingSink:
    """Applies nothing; records every command and answers with a chosen result."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.result = CommandResult.success()

    async def decide(self, command: Command) -> CommandResult:
        self.commands.append(command)
        return self.result


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def edge_settings(broker: Mosquitto, **overrides: Any) -> MqttSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": broker.port,
        "username": "edge",
        "password_file": broker.edge_password_file,
        "client_id": f"edge-{uuid.uuid4().hex[:8]}",
        "keepalive_s": 5,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.3,
        "publish_timeout_s": 5.0,
    }
    values.update(overrides)
    return MqttSettings(**values)


def make_service(broker: Mosquitto, sink: RecordingSink, **overrides: Any) -> MqttService:
    """The service with every command allowed, unless ``allowed_commands`` says otherwise."""
    overrides.setdefault("allowed_commands", list(COMMANDS))
    return MqttService(
        edge_settings(broker, **overrides),
        prefix=PREFIX,
        site_id="site1",
        connector_ids=CONNECTORS,
        sink=sink,
    )


@contextlib.asynccontextmanager
async def running(service: MqttService, *, wait_connected: bool = True) -> AsyncIterator[None]:
    """Run the service in a task for the block; cancel it (orderly) at the end."""
    task = asyncio.create_task(service.run())
    try:
        if wait_connected:
            await wait_until(lambda: service.stats().connected)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(predicate: Any, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polls another component's counters
            await asyncio.sleep(0.01)
