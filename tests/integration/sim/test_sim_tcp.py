"""Simulated TCP chargers read and written over the wire by independent Modbus clients."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType
from pyModbusTCP.client import ModbusClient

from edge_controller.config.settings import Settings, TcpBusSettings
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.site import RunningSim, running_site
from tests.integration.sim.conftest import eventually, site_config
from tests.ports import free_port

pytestmark = pytest.mark.integration


def _lan_port(sim: RunningSim) -> int:
    bus = sim.settings.buses["lan"]
    assert isinstance(bus, TcpBusSettings)
    return bus.port


def _read_sync(port: int, unit: int, address: int, count: int) -> list[int] | None:
    client = ModbusClient(host="127.0.0.1", port=port, unit_id=unit, timeout=2.0)
    try:
        registers: list[int] | None = client.read_holding_registers(address, count)
        return registers
    finally:
        client.close()


async def test_independent_client_reads_keba_state_and_plug(sim: RunningSim) -> None:
    words = await asyncio.to_thread(_read_sync, _lan_port(sim), 255, 1000, 2)
    assert words == [0, 1]  # 32-bit "not ready": no EV
    plug = await asyncio.to_thread(_read_sync, _lan_port(sim), 255, 1004, 2)
    assert plug == [0, 0]


async def test_keba_walks_the_state_machine_over_the_wire(
    sim: RunningSim, control: SimControlClient
) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=_lan_port(sim), timeout=2, retries=0)
    await client.connect()
    try:
        await control.plug("keba:1", profile="quick3")
        await eventually(lambda: _keba_state(client, 5))  # B, charging not allowed yet
        assert not (await client.write_register(5004, 16000, device_id=255)).isError()
        await eventually(lambda: _keba_state(client, 3))  # C
        currents = await client.read_holding_registers(1008, count=2, device_id=255)
        assert currents.registers == [0, 16000]
        view = await control.connector("keba:1")
        assert view["grid_current_a"] == [16.0, 16.0, 16.0]
        assert (await control.device("keba"))["last_write"]["value"] == 16.0
        await control.unplug("keba:1", immediate=True)
        await eventually(lambda: _keba_state(client, 1))
    finally:
        client.close()


async def _keba_state(client: AsyncModbusTcpClient, code: int) -> bool:
    reply = await client.read_holding_registers(1000, count=2, device_id=255)
    return not reply.isError() and reply.registers == [0, code]


async def test_bad_writes_answer_like_the_device(sim: RunningSim) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=_lan_port(sim), timeout=2, retries=0)
    await client.connect()
    try:
        too_high = await client.write_register(5004, 64000, device_id=255)
        assert too_high.isError() and too_high.exception_code == 3
        read_only = await client.write_register(1000, 1, device_id=255)
        assert read_only.isError() and read_only.exception_code == 2
        nowhere = await client.read_holding_registers(4000, count=1, device_id=1)
        assert nowhere.isError() and nowhere.exception_code == 2
        below_min = await client.write_registers(2301, [4], device_id=1)  # CHARX takes 6..80 A
        assert below_min.isError() and below_min.exception_code == 3
    finally:
        client.close()


async def test_multi_connector_charger_keeps_connectors_apart(
    sim: RunningSim, control: SimControlClient
) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=_lan_port(sim), timeout=2, retries=0)
    await client.connect()
    try:
        await control.plug("charx:2", profile="quick1")
        assert not (await client.write_registers(2301, [10], device_id=1)).isError()
        assert not (await client.write_registers(2300, [1], device_id=1)).isError()

        async def charging() -> bool:
            state = await client.read_holding_registers(2299, count=1, device_id=1)
            return not state.isError() and state.registers == [ord("C") << 8]

        await eventually(charging)
        first = await client.read_holding_registers(1299, count=1, device_id=1)
        assert first.registers == [ord("A") << 8]
        state = await control.state()
        assert state["connectors"]["charx:2"]["drawn_a"] == [10.0, 0.0, 0.0]
        assert state["connectors"]["charx:3"]["state"] == "A"
    finally:
        client.close()


def _read_frame(transaction_id: int, unit_id: int, address: int, count: int) -> bytes:
    pdu = struct.pack(">BHH", 3, address, count)
    return struct.pack(">HHHB", transaction_id, 0, len(pdu) + 1, unit_id) + pdu


async def test_requests_sent_before_the_first_answer_each_get_their_own(
    sim: RunningSim,
) -> None:
    """Modbus TCP lets a client send several requests on one connection before the answers;
    two in one segment were answered one only (the second waited for more bytes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", _lan_port(sim))
    try:
        writer.write(_read_frame(7, 1, 1299, 1) + _read_frame(8, 1, 1299, 3))
        await writer.drain()
        answers = {}
        for _ in range(2):
            header = await asyncio.wait_for(reader.readexactly(7), 5.0)
            transaction_id, _protocol, length, _unit = struct.unpack(">HHHB", header)
            answers[transaction_id] = await reader.readexactly(length - 1)
    finally:
        writer.close()
    assert answers[7][:2] == bytes([3, 2]) and answers[8][:2] == bytes([3, 6])  # 1 and 3 words
    assert answers[7][2:] == answers[8][2:4] == bytes([ord("A"), 0])  # connector 1: no EV


async def test_rtu_over_tcp_gateway_serves_rtu_frames(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    port = free_port()
    config["buses"]["gateway"] = {"type": "rtu_over_tcp", "host": "127.0.0.1", "port": port}
    config["meters"]["grid"]["bus"] = "gateway"
    async with running_site(Settings.model_validate(config)):
        client = AsyncModbusTcpClient(
            "127.0.0.1", port=port, framer=FramerType.RTU, timeout=2, retries=0
        )
        await client.connect()
        try:
            reply = await client.read_input_registers(0, count=2, device_id=10)
            assert not reply.isError() and reply.registers == [0x4366, 0]  # 230.0 V float32
        finally:
            client.close()
