"""A broker behind a TCP proxy (a load balancer in front of a cluster): while the broker is down
the proxy takes each connection and closes it before the broker's answer. The MQTT client does
not report such a close, so an attempt lasts the connect timeout, not the publish timeout."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.conftest import RecordingSink, make_service, running, wait_until
from tests.ports import free_port

pytestmark = pytest.mark.integration


class Proxy:
    """Closes every connection until ``forward`` is set, then pipes it to the broker."""

    def __init__(self, broker_port: int) -> None:
        self.port, self._broker_port = free_port(), broker_port
        self.forward = False
        self.closed = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.forward:
            self.closed += 1
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._broker_port)
        async with asyncio.TaskGroup() as group:
            group.create_task(_pipe(reader, up_writer))
            group.create_task(_pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


async def test_a_connection_closed_before_the_broker_answers_is_tried_again(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    proxy = Proxy(broker.port)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", proxy.port)
    # A publish timeout of 300 s: an attempt waiting for it would never see the broker again.
    service = make_service(broker, sink, port=proxy.port, publish_timeout_s=300.0,
                           connect_timeout_s=0.2)  # fmt: skip
    try:
        async with running(service, wait_connected=False):
            await wait_until(lambda: proxy.closed >= 3)
            proxy.forward = True
            await wait_until(lambda: service.stats().connected)
            assert service.stats().connects == 1
    finally:
        server.close()
