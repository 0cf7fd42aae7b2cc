"""RS-485 over a socat pty pair with a pymodbus RTU server: drivers and bus scheduling."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from pathlib import Path

import pytest
import serial
from structlog.testing import capture_logs

from edge_controller.config.settings import ChargerSettings, MeterSettings, RtuBusSettings
from edge_controller.domain.model import CpState
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import DeviceTiming, ModbusBus
from edge_controller.drivers.modbus.framing import rtu_frame
from edge_controller.drivers.modbus.pdu import read_request
from edge_controller.drivers.modbus.transport import Transport
from edge_controller.ports import DeviceUnavailable

from .conftest import Unit, serial_server, start_socat, stop_socat, words

pytestmark = pytest.mark.integration


class RecordingTransport(Transport):
    """The real transport, recording when each transaction starts and ends."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.link, inner.kind)
        self.in_flight = 0
        self.max_in_flight = 0
        self.log: list[tuple[int, float, float]] = []  # unit, start, end

    async def transact(self, unit_id: int, pdu: bytes, timeout_s: float) -> bytes:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        started = time.monotonic()
        try:
            return await super().transact(unit_id, pdu, timeout_s)
        finally:
            self.in_flight -= 1
            self.log.append((unit_id, started, time.monotonic()))


def rtu_bus(port: str, **overrides: object) -> tuple[ModbusBus, RecordingTransport]:
    settings = RtuBusSettings.model_validate(
        {"type": "rtu", "device": port, "baud": 19200, "parity": "E", "timeout_s": 0.3, **overrides}
    )
    bus = registry.build_bus("rs485", settings)
    bus.transport = RecordingTransport(bus.transport)
    assert isinstance(bus.transport, RecordingTransport)
    return bus, bus.transport


def heidelberg_unit(state: int = 7) -> Unit:
    unit = Unit()
    unit.load("i", 4, [0x0108, state, 160, 160, 160, 250, 230, 230, 230, 0, 11000])
    unit.load("i", 17, words(">I", 5000))
    return unit


def sdm_unit() -> Unit:
    unit = Unit()
    unit.load("i", 0x34, words(">f", 4200.0))
    unit.load("i", 0x48, words(">f", 10.5))
    return unit


async def test_heidelberg_and_meter_share_a_serial_line(pty_pair: tuple[str, str]) -> None:
    ours, theirs = pty_pair
    units = {1: heidelberg_unit(), 2: heidelberg_unit(state=4), 100: sdm_unit()}
    async with serial_server(theirs, units, baudrate=19200, parity="N"):  # a pty ignores parity
        bus, transport = rtu_bus(ours, min_gap_s=0.02)
        async with bus:
            chargers = [
                charger
                for n in (1, 2)
                for charger in registry.build_charger(
                    f"c{n}",
                    ChargerSettings(bus="rs485", unit_id=n, profile="heidelberg_energy_control"),
                    bus,
                )
            ]
            grid = registry.build_meter(
                "grid", MeterSettings(bus="rs485", unit_id=100, profile="eastron_sdm630"), bus
            )
            statuses = await asyncio.gather(*(c.read_status() for c in chargers for _ in range(3)))
            readings = await asyncio.gather(grid.read(), grid.read())
            await chargers[0].set_current(8)

        assert [s.state for s in statuses] == [CpState.C] * 3 + [CpState.B] * 3
        assert readings[0].total_power_w == 4200.0
        assert units[1].tables["h"][261] == 80 and units[1].tables["h"][258] == 4
        # Half duplex: never two transactions in flight, and the gap kept between frames.
        assert transport.max_in_flight == 1
        ordered = sorted(transport.log, key=lambda entry: entry[1])
        needed = {1: 0.1, 2: 0.1, 100: 0.05}  # each profile's gap; both exceed the bus's 20 ms
        gaps = [(b[1] - a[2], needed[b[0]]) for a, b in itertools.pairwise(ordered)]
        assert len(gaps) >= 10 and all(gap >= need for gap, need in gaps)


async def test_grid_meter_goes_first_under_overload(pty_pair: tuple[str, str]) -> None:
    ours, theirs = pty_pair
    units = {n: heidelberg_unit() for n in range(1, 6)} | {100: sdm_unit()}
    async with serial_server(theirs, units, baudrate=19200, parity="N"):  # a pty ignores parity
        bus, transport = rtu_bus(ours)
        async with bus:
            channels = [bus.attach(f"c{n}", n, DeviceTiming(0.3, 0)) for n in range(1, 6)]
            grid = registry.build_meter(
                "grid", MeterSettings(bus="rs485", unit_id=100, profile="eastron_sdm630"), bus
            )
            request = read_request("input", 5, 1)
            backlog = [
                asyncio.create_task(ch.request(request)) for _ in range(4) for ch in channels
            ]
            await asyncio.sleep(0)  # the backlog is queued
            reading = await grid.read()
            done_before_meter = sum(task.done() for task in backlog)
            await asyncio.gather(*backlog)
        assert reading.total_power_w == 4200.0
        assert done_before_meter <= 2  # at most the transactions already on the line
        served = [unit for unit, _start, _end in sorted(transport.log, key=lambda e: e[1])]
        routine = [unit for unit in served if unit != 100]
        assert routine[:5] == [1, 2, 3, 4, 5]  # round-robin, not one charger's backlog first


async def test_silent_unit_is_marked_unavailable_and_recovers(pty_pair: tuple[str, str]) -> None:
    ours, theirs = pty_pair
    units = {100: sdm_unit()}
    async with serial_server(theirs, units, baudrate=19200, parity="N"):  # a pty ignores parity
        bus, _transport = rtu_bus(ours, retries=2, timeout_s=0.2)
        async with bus:
            [wallbox] = registry.build_charger(
                "c7",
                ChargerSettings(bus="rs485", unit_id=7, profile="heidelberg_energy_control"),
                bus,
            )
            with pytest.raises(DeviceUnavailable, match="timeout"):
                await wallbox.read_status()
            view = next(v for v in bus.views() if v.device_id == "c7")
            assert not view.available and view.errors["timeout"] == 3
            with pytest.raises(DeviceUnavailable):
                await wallbox.read_status()  # no retries while it is known to be silent
            assert next(v for v in bus.views() if v.device_id == "c7").errors["timeout"] == 4

            units[7] = heidelberg_unit(state=2)  # the wallbox comes back
            status = await wallbox.read_status()
            assert status.state is CpState.A
            assert units[7].tables["h"][258] == 4  # start-up writes repeated after the outage
            assert next(v for v in bus.views() if v.device_id == "c7").available


async def test_crc_garbage_is_unavailable_with_crc_errors(pty_pair: tuple[str, str]) -> None:
    ours, theirs = pty_pair
    bus, _transport = rtu_bus(ours, retries=1, timeout_s=0.3)
    line = serial.Serial(theirs, 19200, parity="E", timeout=0)

    async def garbling_responder() -> None:
        while True:
            await asyncio.sleep(0.005)
            if line.in_waiting >= 8:
                request = line.read(8)
                reply = bytearray(rtu_frame(request[0], bytes.fromhex("040200010002")[:4]))
                reply[-1] ^= 0x5A  # wrong CRC
                line.write(bytes(reply))

    responder = asyncio.create_task(garbling_responder())
    try:
        async with bus:
            [wallbox] = registry.build_charger(
                "c1",
                ChargerSettings(bus="rs485", unit_id=1, profile="heidelberg_energy_control"),
                bus,
            )
            with pytest.raises(DeviceUnavailable, match="crc"):
                await wallbox.read_status()
            [view] = bus.views()
            assert view.errors.get("crc", 0) >= 1 and not view.available
    finally:
        responder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await responder
        line.close()


async def test_unplugged_adapter_is_unavailable_not_a_crash() -> None:
    master, slave = os.openpty()
    settings = RtuBusSettings(type="rtu", device=os.ttyname(slave), baud=19200, timeout_s=0.3)
    bus = registry.build_bus("rs485", settings)
    try:
        async with bus:
            meter = registry.build_meter(
                "grid", MeterSettings(bus="rs485", unit_id=1, profile="eastron_sdm630"), bus
            )
            os.close(master)  # the other end goes away: reads fail with EIO / hang-up
            for _ in range(3):
                with pytest.raises(DeviceUnavailable):
                    await meter.read()
            [view] = bus.views()
            assert not view.available
            assert view.errors.get("connection", 0) + view.errors.get("timeout", 0) >= 3
    finally:
        os.close(slave)


async def test_adapter_unplugged_and_plugged_back_is_one_lost_connection(tmp_path: Path) -> None:
    """A USB-RS-485 adapter pulled out (its socat pty pair killed) and plugged back in."""
    ours, theirs = tmp_path / "ttyA", tmp_path / "ttyB"
    units = {100: sdm_unit()}
    socat = start_socat(ours, theirs)
    try:
        with capture_logs() as logs:
            bus, _transport = rtu_bus(str(ours), timeout_s=0.2, retries=1)
            async with bus:
                meter = registry.build_meter(
                    "grid", MeterSettings(bus="rs485", unit_id=100, profile="eastron_sdm630"), bus
                )
                async with serial_server(str(theirs), units, baudrate=19200, parity="N"):
                    assert (await meter.read()).total_power_w == 4200.0
                stop_socat(socat)  # unplugged: the port fails with EIO, then its node is gone
                for _ in range(5):
                    with pytest.raises(
                        DeviceUnavailable, match=r"serial port lost|cannot open|reconnecting"
                    ):
                        await meter.read()
                    await asyncio.sleep(0.1)
                socat = start_socat(ours, theirs)  # plugged back in
                async with serial_server(str(theirs), units, baudrate=19200, parity="N"):
                    deadline = time.monotonic() + 20
                    while True:
                        try:
                            reading = await meter.read()
                            break
                        except DeviceUnavailable:
                            assert time.monotonic() < deadline, "the bus never reconnected"
                            await asyncio.sleep(0.2)
                    assert reading.total_power_w == 4200.0
                [view] = bus.views()
                assert view.available and view.errors["connection"] >= 1
    finally:
        stop_socat(socat)
    events = [entry["event"] for entry in logs]
    assert "bus transaction failed unexpectedly" not in events
    assert "device fault" not in events  # a lost port is no fault of the device
    assert not [entry for entry in logs if "exc_info" in entry]  # no traceback
    assert events.count("bus connection lost") == 1
    assert events.count("bus connection restored") == 1
    assert events.count("device unavailable") == 1
    assert events.count("device recovered") == 1
    # Failing to reopen while unplugged is part of the same outage: not warned about again.
    warned = [(e["event"], e["log_level"]) for e in logs if e["log_level"] == "warning"]
    assert ("bus connect failed", "warning") not in warned
