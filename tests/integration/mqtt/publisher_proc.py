"""Runs the MQTT service in its own process so a test can SIGKILL it (last-will test)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge_controller.config.settings import MqttSettings
from edge_controller.telemetry import MqttService
from tests.integration.mqtt.broker import PREFIX
from tests.integration.mqtt.conftest import CONNECTORS, RecordingSink
from tests.integration.mqtt.helpers import site_view


async def main(port: int, password_file: Path) -> None:
    settings = MqttSettings(
        enabled=True,
        port=port,
        username="edge",
        password_file=password_file,
        client_id="edge-killed",
        keepalive_s=5,
    )
    service = MqttService(
        settings, prefix=PREFIX, site_id="site1", connector_ids=CONNECTORS, sink=RecordingSink()
    )
    service.publish_site(site_view())
    await service.run()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
