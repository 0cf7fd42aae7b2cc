"""Simulated RTU devices on a socat pty pair: watchdog, grid meter and injected faults."""

from __future__ import annotations

import asyncio
import os
import struct
import termios
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.framer import FramerType

from edge_controller.config.settings import Settings
from edge_controller.drivers.modbus import framing, pdu, wiretime
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.site import RunningSim, running_site
from tests.integration.sim.conftest import eventually, site_config

pytestmark = pytest.mark.integration


async def _rtu(sim: RunningSim, timeout_s: float = 1.0) -> AsyncModbusSerialClient:
    # Parity N: the Linux pty refuses PARENB; a pty carries bytes, not bits.
    client = AsyncModbusSerialClient(
        sim.pty_paths["rs485"], baudrate=19200, parity="N", timeout=timeout_s, retries=0
    )
    assert await client.connect()
    return client


def _floats(words: Sequence[int]) -> list[float]:
    return [
        struct.unpack(">f", struct.pack(">HH", words[i], words[i + 1]))[0]
        for i in range(0, len(words), 2)
    ]


async def test_heidelberg_watchdog_falls_back_to_failsafe(
    sim: RunningSim, control: SimControlClient
) -> None:
    client = await _rtu(sim)
    try:
        await control.plug("hd1:1", profile="quick3")
        assert not (await client.write_register(262, 80, device_id=1)).isError()  # failsafe 8 A
        assert not (await client.write_register(261, 160, device_id=1)).isError()
        assert not (await client.write_register(257, 1000, device_id=1)).isError()  # 1 s

        async def fallen_back() -> bool:
            view = await control.connector("hd1:1")
            return bool(view["failsafe_active"]) and view["offered_a"] == 8.0

        await eventually(fallen_back)
        state = await client.read_input_registers(5, count=4, device_id=1)
        assert state.registers == [7, 80, 80, 80]  # still C2, now drawing the failsafe 8 A
        assert not (await client.write_register(261, 120, device_id=1)).isError()
        view = await control.connector("hd1:1")
        assert not view["failsafe_active"]
    finally:
        client.close()


async def test_grid_meter_sums_base_load_and_rotated_charging(
    sim: RunningSim, control: SimControlClient
) -> None:
    client = await _rtu(sim)
    try:
        await control.set_base_load(5.0, 4.0, 3.0)
        await control.plug("hd2:1", profile="quick3")  # hd2 is wired single-phase on L3
        assert not (await client.write_register(261, 100, device_id=2)).isError()

        async def meter_sees_it() -> bool:
            reply = await client.read_input_registers(6, count=6, device_id=10)
            return not reply.isError() and _floats(reply.registers) == [5.0, 4.0, 13.0]

        await eventually(meter_sees_it)
        await control.clear_base_load()  # back to the profile: no base load configured

        async def only_the_ev() -> bool:
            state = await control.state()
            return bool(state["meters"]["grid"]["current_a"] == [0.0, 0.0, 10.0])

        await eventually(only_the_ev)
    finally:
        client.close()


async def test_unknown_unit_and_no_answer_fault_stay_silent(
    sim: RunningSim, control: SimControlClient
) -> None:
    client = await _rtu(sim, timeout_s=0.3)
    try:
        assert (await client.read_input_registers(5, count=1, device_id=1)).registers
        with pytest.raises(Exception, match=r"(?i)no response|timeout|failed"):
            await client.read_input_registers(5, count=1, device_id=7)
        await control.inject_fault("hd1", "no_answer")
        with pytest.raises(Exception, match=r"(?i)no response|timeout|failed"):
            await client.read_input_registers(5, count=1, device_id=1)
        reply = await client.read_input_registers(5, count=1, device_id=2)  # others still answer
        assert not reply.isError()
        await control.clear_faults("hd1")
        assert not (await client.read_input_registers(5, count=1, device_id=1)).isError()
    finally:
        client.close()


async def test_exception_and_corrupt_frame_faults(
    sim: RunningSim, control: SimControlClient
) -> None:
    client = await _rtu(sim, timeout_s=0.3)
    try:
        await control.inject_fault("hd1", "exception", code=6)
        busy = await client.read_input_registers(5, count=1, device_id=1)
        assert busy.isError() and busy.exception_code == 6
        await control.clear_faults("hd1", "exception")
        await control.inject_fault("hd1", "corrupt")
        with pytest.raises(Exception, match=r"(?i)no response|timeout|failed|crc"):
            await client.read_input_registers(5, count=1, device_id=1)
        await control.clear_faults("hd1")
        devices = (await control.state())["devices"]
        assert devices["hd1"]["faults"] == []
    finally:
        client.close()


async def test_reboot_resets_setpoints_and_stuck_freezes_a_reading(
    sim: RunningSim, control: SimControlClient
) -> None:
    client = await _rtu(sim, timeout_s=0.5)
    try:
        assert not (await client.write_register(261, 120, device_id=1)).isError()
        await control.inject_fault("hd1", "reboot", duration_s=0.5)

        async def back_with_defaults() -> bool:
            try:
                reply = await client.read_holding_registers(261, count=1, device_id=1)
            except Exception:  # still booting: no answer
                return False
            return not reply.isError() and reply.registers == [0]

        await eventually(back_with_defaults)
        await control.set_base_load(7.0, 7.0, 7.0)
        await eventually(lambda: _meter_l1_is(client, 7.0))
        await control.inject_fault("grid", "stuck")
        await control.set_base_load(20.0, 20.0, 20.0)
        await eventually(lambda: _model_l1_is(control, 20.0))
        assert await _meter_l1_is(client, 7.0)  # frozen although the load changed
        await control.clear_faults("grid", "stuck")
        await eventually(lambda: _meter_l1_is(client, 20.0))
    finally:
        client.close()


async def _model_l1_is(control: SimControlClient, current_a: float) -> bool:
    return bool((await control.state())["meters"]["grid"]["current_a"][0] == current_a)


async def _meter_l1_is(client: AsyncModbusSerialClient, current_a: float) -> bool:
    reply = await client.read_input_registers(6, count=2, device_id=10)
    return not reply.isError() and _floats(reply.registers) == [current_a]


async def test_slow_answer_fault_outlasts_a_short_timeout(
    sim: RunningSim, control: SimControlClient
) -> None:
    await control.inject_fault("hd2", "slow", delay_s=1.0, duration_s=3.0)
    impatient = await _rtu(sim, timeout_s=0.2)
    try:
        with pytest.raises(Exception, match=r"(?i)no response|timeout|failed"):
            await impatient.read_input_registers(5, count=1, device_id=2)
    finally:
        impatient.close()
    await control.clear_faults("hd2")
    patient = await _rtu(sim, timeout_s=3.0)
    try:
        assert not (await patient.read_input_registers(5, count=1, device_id=2)).isError()
    finally:
        patient.close()


async def test_ascii_line_serves_abl_and_garbles_its_lrc(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    device = str(tmp_path / "ttyASCII")
    config["buses"]["ascii"] = {
        "type": "rtu",
        "device": device,
        "baud": 38400,
        "parity": "N",
        "framing": "ascii",
    }
    config["chargers"]["abl"] = {
        "bus": "ascii",
        "unit_id": 1,
        "profile": "abl_emh1",
        "simulated": True,
    }
    async with running_site(Settings.model_validate(config)) as running:
        client = AsyncModbusSerialClient(
            device, framer=FramerType.ASCII, baudrate=38400, parity="N", timeout=0.5, retries=0
        )
        assert await client.connect()
        try:
            state = await client.read_holding_registers(0x0034, count=1, device_id=1)
            assert state.registers == [0xA1 << 8]  # A1 in the high byte
            async with SimControlClient(running.control_url) as control:
                await control.inject_fault("abl", "corrupt")
                with pytest.raises(Exception, match=r"(?i)no response|timeout|failed|lrc"):
                    await client.read_holding_registers(0x0034, count=1, device_id=1)
        finally:
            client.close()


def _round_trip_s(fd: int, request: bytes, reply_bytes: int) -> float:
    """From writing a request to holding its whole answer (blocking reads on the pty)."""
    started = time.perf_counter()
    os.write(fd, request)
    got = b""
    while len(got) < reply_bytes:
        got += os.read(fd, reply_bytes - len(got))
    finished = time.perf_counter()
    assert framing.crc16(got[:-2]) == int.from_bytes(got[-2:], "little")
    return finished - started


@pytest.mark.parametrize("turnaround_s", [0.0, 0.02])
async def test_wire_timed_answers_take_the_wire_time_of_the_model(
    tmp_path: Path, turnaround_s: float
) -> None:
    """The fastest of a few reads (noise on a shared machine only ever adds time) matches the
    wire-time model: request and answer characters and, between them, the larger of the
    3.5-character silence and the device's turnaround; no silence after the answer."""
    baud, registers = 9600, 15
    config = site_config(tmp_path, wire_timing=True)
    config["buses"]["rs485"].update(baud=baud, turnaround_s=turnaround_s)
    async with running_site(Settings.model_validate(config)) as running:
        fd = os.open(running.pty_paths["rs485"], os.O_RDWR | os.O_NOCTTY)
        # The port at the line's baud, as any master sets it (the simulated devices answer
        # only requests sent at the baud they listen at).
        attributes = termios.tcgetattr(fd)
        attributes[4] = attributes[5] = termios.B9600
        termios.tcsetattr(fd, termios.TCSANOW, attributes)
        try:
            request = framing.rtu_frame(1, pdu.read_request("input", 4, registers))
            reply_bytes = 5 + 2 * registers
            times = [
                await asyncio.to_thread(_round_trip_s, fd, request, reply_bytes) for _ in range(12)
            ]
        finally:
            os.close(fd)
    # The daemon's own model: one transaction minus the silence the master waits afterwards.
    model_s = wiretime.transaction_s(
        baud, 5, 2 + 2 * registers, turnaround_s=turnaround_s
    ) - wiretime.silence_s(baud)
    ratio = min(times) / model_s
    assert 0.99 < ratio < 1.04, f"fastest {min(times) * 1000:.1f} ms, model {model_s * 1000:.1f} ms"
