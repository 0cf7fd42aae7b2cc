"""The selftest's broker probe against a real Mosquitto: the configured credentials connect;
a wrong password and a closed port are named, not raised."""

from __future__ import annotations

import pytest

from edge_controller.telemetry.probe import probe_broker
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.conftest import edge_settings

pytestmark = pytest.mark.integration


async def test_the_configured_credentials_connect(broker: Mosquitto) -> None:
    assert await probe_broker(edge_settings(broker), "site-selftest") is None


async def test_a_wrong_password_is_named(broker: Mosquitto) -> None:
    settings = edge_settings(broker, password="not-the-password", password_file=None)
    error = await probe_broker(settings, "site-selftest")
    assert error is not None and "authori" in error.lower()


async def test_a_stopped_broker_is_named(broker: Mosquitto) -> None:
    settings = edge_settings(broker)
    broker.stop()
    error = await probe_broker(settings, "site-selftest")
    assert error is not None and "connect" in error.lower()
