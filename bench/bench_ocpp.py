"""OCPP uplink: draining a large outbox backlog against a local bench CSMS.

The CSMS runs in a child process, so ``cpu_ms_per_msg`` is our side only (uplink + SQLite).
Throughput is compared with the one-CALL-in-flight limit measured in the same run: 1 / RTT of the
same kind of message (MeterValues) sent directly on the same connection. A second row repeats
the run against a CSMS that answers after 20 ms, as a distant one does.
``OCPP_BENCH_MESSAGES`` sets the backlog: 10,000 by default to stay under two minutes on the shared
bench machine (100,000 drains at the same rate, only ten times longer).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_controller.domain.commands import Command
from edge_controller.domain.snapshot import ConnectorView
from edge_controller.log import configure
from edge_controller.settings import OcppSettings
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.ocpp_compat import call
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.topology import Topology

SESSION_MESSAGES = 100
WAN_DELAY_S = 0.02
RTT_SAMPLES = 300
CSMS_CODE = (
    "import asyncio,sys; from edge_controller.sim.csms import CsmsBehaviour, serve_csms; "
    "asyncio.run(serve_csms('127.0.0.1', int(sys.argv[1]), "
    "behaviour=CsmsBehaviour(answer_delay_s=float(sys.argv[2]))))"
)


class _Idle:
    def submit(self, command: Command) -> bool:
        return True

    def connectors(self) -> Sequence[ConnectorView]:
        return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _message(n: int, total: int) -> tuple[str, dict[str, Any]]:
    at = "2026-11-27T00:00:00.000Z"
    position = n % SESSION_MESSAGES
    if position == 0:
        return "StartTransaction", {
            "connectorId": 1,
            "idTag": "BENCH",
            "meterStart": 0,
            "timestamp": at,
        }
    if position == SESSION_MESSAGES - 1 or n == total - 1:
        return "StopTransaction", {"meterStop": n, "timestamp": at}
    sampled = [{"value": str(n), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    return "MeterValues", {
        "connectorId": 1,
        "meterValue": [{"timestamp": at, "sampledValue": sampled}],
    }


async def _fill(outbox: Outbox, total: int) -> None:
    batch: list[Any] = []
    for n in range(total):
        action, payload = _message(n, total)
        local_id = n // SESSION_MESSAGES + 1
        batch.append(outbox.append("bench", action, payload, session_local_id=local_id))
        if len(batch) == 2000:
            await asyncio.gather(*batch)  # group commit: many appends per fsync
            batch.clear()
    await asyncio.gather(*batch)


async def _until(check: Any, poll_s: float) -> None:
    while not await check():  # noqa: ASYNC110 - polling a database count, no event exists
        await asyncio.sleep(poll_s)


async def _measure(total: int, workdir: Path, delay_s: float) -> dict[str, Any]:
    port = _free_port()
    csms = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CSMS_CODE, str(port), str(delay_s)
    )
    db = await Database.open(workdir / "bench.db")
    try:
        outbox = Outbox(db, capacity=max(total * 2, 1000))
        fill_started = time.perf_counter()
        await _fill(outbox, total)
        fill_s = time.perf_counter() - fill_started
        settings = OcppSettings(
            enabled=True,
            url=f"ws://127.0.0.1:{port}",
            identity="bench",
            reconnect_min_s=0.05,
            reconnect_max_s=0.2,
        )
        uplink = OcppUplink(
            settings,
            Topology("site", "bench", {"c": 1}),
            state_dir=workdir,
            commands=_Idle(),
            status=_Idle(),
            outbox=outbox,
        )
        async with asyncio.TaskGroup() as tasks:
            runner = tasks.create_task(uplink.run())
            await _until(lambda: asyncio.sleep(0, uplink.online), 0.01)
            started, cpu_started = time.perf_counter(), time.process_time()
            await _until(lambda: _drained(outbox), 0.05)
            drain_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            rtt_s = await _rtt(uplink, min(RTT_SAMPLES, total))
            runner.cancel()
    finally:
        await db.close()
        csms.terminate()
        await asyncio.wait_for(csms.wait(), 10)
    rate = total / drain_s
    return {
        "csms_answer_delay_ms": delay_s * 1000,
        "messages": total,
        "fill_s": round(fill_s, 1),
        "drain_s": round(drain_s, 1),
        "msgs_per_s": round(rate),
        "rtt_ms": round(rtt_s * 1000, 3),
        "one_in_flight_limit_per_s": round(1 / rtt_s),
        "ratio_to_limit": round(rate * rtt_s, 3),
        "cpu_ms_per_msg": round(cpu_s / total * 1000, 3),
    }


async def _drained(outbox: Outbox) -> bool:
    return await outbox.backlog("bench") == 0


async def _rtt(uplink: OcppUplink, samples: int) -> float:
    """Round trip of the same kind of message, sent directly (no outbox) on the same link."""
    session = uplink.sessions["bench"]
    sampled = [{"value": "1", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    value = [{"timestamp": "2026-11-27T00:00:00.000Z", "sampled_value": sampled}]
    started = time.perf_counter()
    for _ in range(samples):
        await session.call(call.MeterValues(connector_id=1, meter_value=value))
    return (time.perf_counter() - started) / samples


def run() -> list[dict[str, Any]]:
    configure("warning", "console", sys.stderr)
    total = int(os.environ.get("OCPP_BENCH_MESSAGES", "10000"))
    rows = []
    for delay_s, count in ((0.0, total), (WAN_DELAY_S, max(total // 50, 100))):
        with tempfile.TemporaryDirectory(prefix="bench-ocpp-") as workdir:
            rows.append(asyncio.run(_measure(count, Path(workdir), delay_s)))
    return rows


if __name__ == "__main__":
    print(run())
