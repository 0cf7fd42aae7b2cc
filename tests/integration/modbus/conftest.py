"""Real Modbus peers for the driver tests.

TCP: pyModbusTCP's server (an implementation independent of ours and of pymodbus), loaded with
register values built here with ``struct`` — not with our codec — so a decoding mistake cannot
hide behind a shared one. Serial: a socat pty pair with a small pymodbus RTU/ASCII server.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pyModbusTCP.server import DataBank, ModbusServer

from tests.ports import free_port


def words(fmt: str, value: float, low_word_first: bool = False) -> list[int]:
    """Registers holding ``value`` packed big-endian with ``struct`` format ``fmt``."""
    raw = struct.pack(fmt, value)
    out = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return out[::-1] if low_word_first else out


@dataclass
class TcpPeer:
    server: ModbusServer
    port: int

    @property
    def bank(self) -> DataBank:
        bank: DataBank = self.server.data_bank
        return bank


@pytest.fixture
def tcp_peer() -> Iterator[TcpPeer]:
    server = ModbusServer("127.0.0.1", 0, no_block=True)
    server.start()
    try:
        yield TcpPeer(server, server._service.server_address[1])
    finally:
        server.stop()


def start_socat(a: Path, b: Path) -> subprocess.Popen[bytes]:
    """Two linked pseudo-terminals at ``a`` and ``b`` (killing the process removes both, as
    unplugging a USB adapter removes its device node)."""
    socat = shutil.which("socat")
    assert socat is not None, "socat is required"
    process = subprocess.Popen(
        [socat, "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not (a.exists() and b.exists()):
        assert time.monotonic() < deadline, "socat did not create the pty pair"
        time.sleep(0.02)
    return process


def stop_socat(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked pseudo-terminals: the bus opens the first, the test's server the second."""
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    process = start_socat(a, b)
    try:
        yield str(a), str(b)
    finally:
        stop_socat(process)


_TABLES = {1: "c", 2: "d", 3: "h", 4: "i", 5: "c", 6: "h", 15: "c", 16: "h"}


@dataclass
class Unit:
    """Register tables of one simulated unit: c(oils), d(iscrete), h(olding), i(nput)."""

    tables: dict[str, dict[int, int]] = field(
        default_factory=lambda: {"c": {}, "d": {}, "h": {}, "i": {}}
    )
    exception: int | None = None

    def load(self, table: str, address: int, values: Sequence[int]) -> None:
        for offset, value in enumerate(values):
            self.tables[table][address + offset] = value


class TableContext(ModbusServerContext):
    """Units by id; a missing unit id stays silent (like an absent device on the line)."""

    def __init__(self, units: dict[int, Unit]) -> None:
        # The base initialiser builds pymodbus's own store, which this context replaces.
        self.old_simulator = True
        self.simdevices = []
        self.units = units

    def _unit(self, device_id: int) -> Unit:
        unit = self.units.get(device_id)
        if unit is None:
            raise NoSuchIdException(f"no unit {device_id}")
        return unit

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        unit = self._unit(device_id)
        if unit.exception is not None:
            return ExcCodes(unit.exception)
        table = unit.tables[_TABLES[func_code]]
        values = [table.get(a, 0) for a in range(address, address + count)]
        return [bool(v) for v in values] if func_code in (1, 2) else values

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: Sequence[int] | Sequence[bool]
    ) -> ExcCodes | None:
        unit = self._unit(device_id)
        if unit.exception is not None:
            return ExcCodes(unit.exception)
        unit.load(_TABLES[func_code], address, [int(v) for v in values])
        return None

    def device_ids(self) -> list[int]:
        return list(self.units)


@contextlib.asynccontextmanager
async def serial_server(
    port: str, units: dict[int, Unit], framer: FramerType = FramerType.RTU, **line: Any
) -> AsyncIterator[TableContext]:
    context = TableContext(units)
    server = ModbusSerialServer(
        context, framer=framer, port=port, ignore_missing_devices=True, **line
    )
    task = asyncio.create_task(server.serve_forever())
    try:
        await asyncio.sleep(0.2)  # the server opens the port
        yield context
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def rtu_over_tcp_server(units: dict[int, Unit]) -> AsyncIterator[int]:
    port = free_port()
    server = ModbusTcpServer(
        TableContext(units),
        framer=FramerType.RTU,
        address=("127.0.0.1", port),
        ignore_missing_devices=True,
    )
    task = asyncio.create_task(server.serve_forever())
    try:
        await asyncio.sleep(0.2)
        yield port
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


Clock = Callable[[], float]
