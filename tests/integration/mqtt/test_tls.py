"""TLS to the broker: the controller checks the broker certificate against the configured CA."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from tests.integration.mqtt.broker import USERS, Mosquitto
from tests.integration.mqtt.conftest import RecordingSink, make_service, running, wait_until
from tests.integration.mqtt.helpers import as_json, on_topic, site_view, topic, wait_message

pytestmark = pytest.mark.integration


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path, tls=True)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


async def test_state_over_tls(tls_broker: Mosquitto, sink: RecordingSink) -> None:
    service = make_service(tls_broker, sink, tls=True, ca_file=tls_broker.ca_file)
    async with running(service):
        service.publish_site(site_view(at_s=3.0))
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        context = ssl.create_default_context(cafile=str(tls_broker.ca_file))
        async with aiomqtt.Client(
            "127.0.0.1",
            tls_broker.port,
            username="app",
            password=USERS["app"],
            identifier=f"app-{uuid.uuid4().hex[:8]}",
            tls_context=context,
        ) as app:
            await app.subscribe(topic("connectors/+/state"))
            state = await wait_message(app, on_topic(topic("connectors/wb1-1/state")))
    assert as_json(state)["at_s"] == 3.0
