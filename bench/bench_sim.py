"""Simulator benchmark: physics step cost, Modbus answer rate, and RTU wire-timing honesty.

- physics: one site step (24 connectors, all charging, a grid meter) per second of CPU.
- modbus: reads per second of a 15-register block over TCP, one client, in sequence.
- rtu wire timing: measured round trip of a 15-register RTU read on the pty pair with
  ``wire_timing`` at 9600 and 19200 baud, against the wire-time model of a real line (request
  and answer at 11 bits per char, between them the 3.5-char silence; ``wiretime.exchange_s``).
  The ratio shows how honest the emulated line is (median and fastest read); the same read
  without wire timing is the floor the machine adds.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import time
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from edge_controller.config.settings import Settings
from edge_controller.drivers.modbus import wiretime
from edge_controller.sim.physics_charger import ChargerHardware, ChargerModel
from edge_controller.sim.physics_ev import EvProfile
from edge_controller.sim.physics_site import ChargerWiring, MeterModel, SiteModel
from edge_controller.sim.site import running_site

STEPS = 20_000
READS = 300
RTU_READS = 20
READ_REQUEST_BYTES = 8
READ_15_ANSWER_BYTES = 5 + 2 * 15


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _physics_rows() -> list[dict[str, Any]]:
    site = SiteModel(meters={"grid": MeterModel("grid", [])})
    for index in range(8):
        model = ChargerModel(ChargerHardware(connectors=3, watchdog_timeout_s=0.0))
        for number in (1, 2, 3):
            model.plug(0.0, number, EvProfile(response_delay_s=0.0))
            model.write_setpoint(0.0, number, 16.0)
        site.chargers[f"c{index}"] = ChargerWiring(model)
        site.meters["grid"].chargers.append(f"c{index}")
    started = time.perf_counter()
    for step in range(STEPS):
        site.step(step * 0.2)
    elapsed = time.perf_counter() - started
    return [{"case": "physics step, 24 connectors", "per_s": round(STEPS / elapsed)}]


def _settings(tmp: str, wire_timing: bool, baud: int) -> Settings:
    return Settings.model_validate(
        {
            "site": {"id": "bench", "grid_limit_a": 63},
            "buses": {
                "lan": {"type": "tcp", "host": "127.0.0.1", "port": _free_port()},
                "rs": {"type": "rtu", "device": f"{tmp}/tty", "baud": baud, "parity": "N"},
            },
            "chargers": {
                "tcp": {
                    "bus": "lan",
                    "unit_id": 1,
                    "profile": "heidelberg_energy_control",
                    "simulated": True,
                },
                "rtu": {
                    "bus": "rs",
                    "unit_id": 1,
                    "profile": "heidelberg_energy_control",
                    "simulated": True,
                },
            },
            "simulation": {"control_port": 0, "wire_timing": wire_timing},
        }
    )


async def _tcp_rate(settings: Settings) -> float:
    port = settings.buses["lan"].port  # type: ignore[union-attr]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    await client.connect()
    started = time.perf_counter()
    for _ in range(READS):
        await client.read_input_registers(4, count=15, device_id=1)
    elapsed = time.perf_counter() - started
    client.close()
    return READS / elapsed


async def _rtu_times_s(path: str, baud: int) -> list[float]:
    client = AsyncModbusSerialClient(path, baudrate=baud, parity="N", timeout=3, retries=0)
    await client.connect()
    times = []
    for _ in range(RTU_READS):
        started = time.perf_counter()
        await client.read_input_registers(4, count=15, device_id=1)
        times.append(time.perf_counter() - started)
    client.close()
    return times


async def _wire_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for baud, wire in ((19200, False), (9600, True), (19200, True)):
        with tempfile.TemporaryDirectory() as tmp:
            settings = _settings(tmp, wire, baud)
            async with running_site(settings) as running:
                if not wire:
                    rate = await _tcp_rate(settings)
                    rows.append({"case": "tcp reads (15 regs)", "per_s": round(rate)})
                times = await _rtu_times_s(running.pty_paths["rs"], baud)
        expected = wiretime.exchange_s(baud, READ_REQUEST_BYTES, READ_15_ANSWER_BYTES)
        measured = statistics.median(times)
        rows.append(
            {
                "case": f"rtu read 15 regs, {baud} baud, wire_timing={wire}",
                "median_ms": round(measured * 1000, 2),
                "wire_ms": round(expected * 1000, 2),
                "ratio": round(measured / expected, 3),
                "ratio_fastest": round(min(times) / expected, 3),
            }
        )
    return rows


def run() -> list[dict[str, Any]]:
    return _physics_rows() + asyncio.run(_wire_rows())
