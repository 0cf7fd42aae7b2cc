"""Memory of one client in a process of its own: ``python -m bench.footprint AREA CLIENT JSON``.

Prints one JSON object: ``import_mib`` (resident memory the client's modules add to an
interpreter that has loaded what the daemon needs anyway: see ``BASELINE``), ``work_mib``
(what it adds once it has done the work too: connection, buffers, thread) and ``peak_mib`` (the
whole process's high-water mark). Each client runs alone so one library's imports are not
counted for the other.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BASELINE = {"modbus": ("edge_controller.drivers.profiles.schema",)}
MODBUS_READS = 500
STORAGE_WRITES = 500
PAYLOAD = {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z"}]}
INSERT_OUTBOX = (
    "INSERT INTO outbox (identity, action, payload, kind, created_at_s)"
    " VALUES (?, 'MeterValues', ?, 'other', ?)"
)
SELECT_PENDING = (
    "SELECT seq, payload FROM outbox WHERE identity = ? AND state = 'pending' ORDER BY seq LIMIT 64"
)


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    """VmHWM: unlike ru_maxrss it does not carry the forking parent's peak over the exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def _modbus(client: str, bus: dict[str, Any], marks: list[float]) -> None:
    if client == "ours":
        from edge_controller.drivers.modbus.bus import DeviceTiming, LineTiming, ModbusBus
        from edge_controller.drivers.modbus.links import SerialLink, TcpLink
        from edge_controller.drivers.modbus.pdu import parse_read_response, read_request
        from edge_controller.drivers.modbus.transport import Transport

        marks.append(_rss_mib())
        if bus["type"] == "tcp":
            modbus = ModbusBus("f", Transport(TcpLink(bus["host"], bus["port"], 2.0), "tcp"))
        else:
            link = SerialLink(bus["device"], bus["baud"], "N", 1, 8)
            modbus = ModbusBus("f", Transport(link, "rtu"), LineTiming(bus["baud"]))
        request = read_request("input", 5, 10)
        async with modbus:
            channel = modbus.attach("d", 1, DeviceTiming(timeout_s=1.0, retries=0))
            for _ in range(MODBUS_READS):
                parse_read_response(request, await channel.request(request))
            marks.append(_rss_mib())
        return
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

    marks.append(_rss_mib())
    pm: AsyncModbusTcpClient | AsyncModbusSerialClient
    if bus["type"] == "tcp":
        pm = AsyncModbusTcpClient(bus["host"], port=bus["port"], timeout=1.0, retries=0)
    else:
        pm = AsyncModbusSerialClient(bus["device"], baudrate=bus["baud"], timeout=1.0, retries=0)
    await pm.connect()
    for _ in range(MODBUS_READS):
        reply = await pm.read_input_registers(5, count=10, device_id=1)
        if reply.isError():
            raise RuntimeError(str(reply))
    marks.append(_rss_mib())
    pm.close()


async def _storage(client: str, path: Path, marks: list[float]) -> None:
    if client == "ours":
        from edge_controller.storage.database import Database
        from edge_controller.storage.outbox import Outbox

        marks.append(_rss_mib())
        db = await Database.open(path)
        outbox = Outbox(db)
        for _ in range(STORAGE_WRITES):
            await outbox.append("site", "MeterValues", PAYLOAD)
        await outbox.peek_many("site", limit=64)
        marks.append(_rss_mib())
        await db.close()
        return
    import aiosqlite

    from edge_controller.storage.migrations import migrate
    from edge_controller.storage.startup import apply_pragmas

    marks.append(_rss_mib())
    # The schema as the daemon has it, made beforehand without aiosqlite.
    with sqlite3.connect(path, isolation_level=None) as setup:
        apply_pragmas(setup)
        migrate(setup)
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        for i in range(STORAGE_WRITES):
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute(INSERT_OUTBOX, ("site", json.dumps(PAYLOAD), float(i)))
            await conn.execute("COMMIT")
        await conn.execute_fetchall(SELECT_PENDING, ("site",))
        marks.append(_rss_mib())


def measure(area: str, client: str, config: dict[str, Any]) -> dict[str, float]:
    """Run one client in a child process; its memory figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.footprint", area, client, json.dumps(config)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(area: str, client: str, config_json: str) -> None:
    config = json.loads(config_json)
    # What the daemon loads whichever library it uses is not counted: logging, ports and, for
    # Modbus, the device profiles (pydantic) every driver reads its register map from.
    for module in ("edge_controller.log", "edge_controller.ports", *BASELINE.get(area, ())):
        importlib.import_module(module)
    base_mib = _rss_mib()
    marks: list[float] = []
    if area == "modbus":
        asyncio.run(_modbus(client, config, marks))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
            asyncio.run(_storage(client, Path(tmp) / "f.db", marks))
    imported_mib, worked_mib = marks
    peak_mib = _peak_mib()
    print(
        json.dumps(
            {
                "import_mib": round(imported_mib - base_mib, 1),
                "work_mib": round(worked_mib - base_mib, 1),
                "peak_mib": round(peak_mib, 1),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
