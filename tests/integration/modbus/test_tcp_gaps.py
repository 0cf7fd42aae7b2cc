"""Over Modbus TCP a device waiting out its own gap does not hold back another device."""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import DeviceTiming
from edge_controller.drivers.modbus.pdu import read_request
from edge_controller.settings import TcpBusSettings

from .conftest import TcpPeer
from .test_rtu_bus import RecordingTransport

pytestmark = pytest.mark.integration


async def test_a_device_in_its_gap_lets_another_go_first(tcp_peer: TcpPeer) -> None:
    settings = TcpBusSettings(type="tcp", host="127.0.0.1", port=tcp_peer.port, timeout_s=2.0)
    bus = registry.build_bus("lan", settings)
    transport = bus.transport = RecordingTransport(bus.transport)
    request = read_request("holding", 0, 1)
    async with bus:
        slow = bus.attach("slow", 1, DeviceTiming(2.0, 0, min_gap_s=2.0))
        quick = bus.attach("quick", 2, DeviceTiming(2.0, 0))
        await slow.request(request)
        # Both queued at once, the slow device first: it must wait 2 s, the other need not.
        await asyncio.gather(slow.request(request), quick.request(request))
    assert [unit for unit, _, _ in transport.log] == [1, 2, 1]
    first, _, second = transport.log
    assert second[1] - first[2] >= 2.0  # the slow device still got its whole gap
