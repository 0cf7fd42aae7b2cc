"""OCPP uplink: draining a large outbox backlog against a local bench CSMS.

The CSMS runs in a child process, so ``cpu_ms_per_msg`` is our side only (uplink + SQLite);
``probe_cpu_ms_per_call`` is the same for a bare CALL: when the machine's cores are busy, the
ratio drops towards the ratio of those two.
Throughput is compared with the one-CALL-in-flight limit measured in the same run: 1 / RTT of the
same kind of message (MeterValues) sent directly on the same connection. The backlog drains in
rounds with a round-trip probe before and after each, so drain and probes see the same load on a
shared machine (one probe after the whole drain could land in a quieter or busier moment); each
round is queued in one transaction and timed until every message of it is durably acked.
A second row repeats the run against a CSMS that answers after 20 ms, as a distant one does.
Both rows are run on OCPP 1.6 (StartTransaction, MeterValues, StopTransaction) and on 2.0.1
(TransactionEvent Started/Updated/Ended from the same events; the probe a TransactionEvent
Updated of the same shape as the backlog's, which the CSMS takes as of no transaction it knows),
in the same run, so ``cpu_ms_per_msg`` of the two versions compare on the same load.
``OCPP_BENCH_MESSAGES`` sets the backlog: 100,000 by default, as the issue states it (the drain
takes about two and a half minutes, the whole module under five, on the shared bench machine).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from edge_controller.config.settings import OcppSettings
from edge_controller.domain.commands import Command, StopReason
from edge_controller.domain.sessions.events import (
    IdToken,
    MeterSampled,
    OutboxEvent,
    Quantity,
    Reading,
    ReadingContext,
    SessionEnded,
    SessionStarted,
    TokenType,
)
from edge_controller.domain.snapshot import ConnectorState, ConnectorView
from edge_controller.log import configure
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.rows import append_in
from edge_controller.uplink.ocpp_compat import call
from edge_controller.uplink.ports import SitePorts, states_among, views_among
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v201.session import Session201

SESSION_MESSAGES = 100
AT_S = 1_795_737_600.0  # 2026-11-27T00:00:00Z
WAN_DELAY_S = 0.02
RTT_SAMPLES = 100
ROUNDS = 5
CSMS_CODE = (
    "import asyncio,sys; from edge_controller.sim.csms import CsmsBehaviour, serve_csms; "
    "asyncio.run(serve_csms('127.0.0.1', int(sys.argv[1]), "
    "behaviour=CsmsBehaviour(answer_delay_s=float(sys.argv[2])), versions=(sys.argv[3],)))"
)
VERSIONS = ("1.6", "2.0.1")


class _Idle:
    def submit(self, command: Command) -> bool:
        return True

    def connectors(self) -> Sequence[ConnectorView]:
        return []

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        return views_among(self.connectors(), connector_ids)

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return states_among(self.connectors(), connector_ids)

    def reservation_ids(self) -> frozenset[int]:
        return frozenset()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _event(n: int, total: int) -> OutboxEvent:
    """Event ``n`` of the backlog: sessions of ``SESSION_MESSAGES`` events, a start, samples of
    the register and an end."""
    position, local_id = n % SESSION_MESSAGES, n // SESSION_MESSAGES + 1
    if position == 0:
        return SessionStarted(local_id, "c:1", AT_S, 0, IdToken("BENCH", TokenType.CARD))
    if position == SESSION_MESSAGES - 1 or n == total - 1:
        return SessionEnded(local_id, "c:1", AT_S, n, StopReason.LOCAL, AT_S, 0)
    register = Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal(n))
    return MeterSampled(local_id, "c:1", AT_S, ReadingContext.PERIODIC, (register,))


async def _fill(db: Database, first: int, count: int, total: int) -> None:
    """Messages ``first`` .. ``first + count - 1`` of the backlog, in one transaction: the
    sender sees the whole round at once (an idle sender is not half-way through it)."""
    events = [_event(n, total) for n in range(first, first + count)]

    def job(conn: sqlite3.Connection) -> None:
        for event in events:
            append_in(conn, "bench", event, now_s=time.time())

    await db.write(job)


async def _until(check: Any, poll_s: float) -> None:
    while not await check():  # noqa: ASYNC110 - polling a counter, no event exists
        await asyncio.sleep(poll_s)


async def _measure(total: int, workdir: Path, delay_s: float, version: str) -> dict[str, Any]:
    port = _free_port()
    csms = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CSMS_CODE, str(port), str(delay_s), version
    )
    db = await Database.open(workdir / "bench.db")
    try:
        outbox = Outbox(db, capacity=max(total * 2, 1000))
        uplink = OcppUplink(
            _settings(port, version),
            Topology("site", "bench", {"c": 1}),
            SitePorts(_Idle(), _Idle(), outbox),
            state_dir=workdir,
        )
        async with asyncio.TaskGroup() as tasks:
            runner = tasks.create_task(uplink.run())
            await _until(lambda: asyncio.sleep(0, uplink.online), 0.01)
            row = await _rounds(uplink, outbox, db, total)
            runner.cancel()
    finally:
        await db.close()
        csms.terminate()
        await asyncio.wait_for(csms.wait(), 10)
    return {"ocpp_version": version, "csms_answer_delay_ms": delay_s * 1000, "messages": total,
            **row}  # fmt: skip


def _settings(port: int, version: str) -> OcppSettings:
    return OcppSettings(
        enabled=True,
        version=version,
        url=f"ws://127.0.0.1:{port}",
        identity="bench",
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
    )


async def _rounds(uplink: OcppUplink, outbox: Outbox, db: Database, total: int) -> dict[str, Any]:
    """Drain rounds between round-trip probes, so both see the same load on a shared machine."""
    per_round = -(-total // ROUNDS)
    fill_s = drain_s = cpu_s = 0.0
    probes = [await _rtt(uplink, RTT_SAMPLES)]
    for first in range(0, total, per_round):
        count = min(per_round, total - first)
        started = time.perf_counter()
        await _fill(db, first, count, total)
        fill_s += time.perf_counter() - started
        sender = uplink.sessions["bench"].sender
        sent = sender.sent + count
        started, cpu_started = time.perf_counter(), time.process_time()
        uplink.notify_outbox()
        await _until(lambda s=sender, n=sent: asyncio.sleep(0, s.sent >= n), 0.01)
        await _until(lambda: _drained(outbox), 0.002)  # drained: every ack durable
        drain_s += time.perf_counter() - started
        cpu_s += time.process_time() - cpu_started
        probes.append(await _rtt(uplink, RTT_SAMPLES))
    rtts_s = [wall_s for wall_s, _ in probes]
    rtt_s = sum(rtts_s) / len(rtts_s)
    probe_cpu_s = sum(cpu_s for _, cpu_s in probes) / len(probes)
    rate = total / drain_s
    return {
        "fill_s": round(fill_s, 1),
        "drain_s": round(drain_s, 1),
        "msgs_per_s": round(rate),
        "rtt_ms": round(rtt_s * 1000, 3),
        "rtt_spread_ms": round((max(rtts_s) - min(rtts_s)) * 1000, 3),
        "one_in_flight_limit_per_s": round(1 / rtt_s),
        "ratio_to_limit": round(rate * rtt_s, 3),
        "cpu_ms_per_msg": round(cpu_s / total * 1000, 3),
        "probe_cpu_ms_per_call": round(probe_cpu_s * 1000, 3),
    }


async def _drained(outbox: Outbox) -> bool:
    return await outbox.backlog("bench") == 0


async def _rtt(uplink: OcppUplink, samples: int) -> tuple[float, float]:
    """Round trip of the same kind of message, sent directly (no outbox) on the same link:
    (wall seconds, CPU seconds of this process) per call."""
    session = uplink.sessions["bench"]
    sampled = [{"value": "1", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    value = [{"timestamp": "2026-11-27T00:00:00.000Z", "sampled_value": sampled}]
    request = call.MeterValues(connector_id=1, meter_value=value)
    started, cpu_started = time.perf_counter(), time.process_time()
    for n in range(samples):
        if isinstance(session, Session201):
            await session.call("TransactionEvent", _probe_event(n))
        else:
            await session.call(request)
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    return wall_s / samples, cpu_s / samples


def _probe_event(n: int) -> dict[str, Any]:
    """A TransactionEvent Updated like the backlog's, of a transaction the CSMS never saw."""
    value = {"value": n, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
             "unitOfMeasure": {"unit": "Wh"}}  # fmt: skip
    return {
        "eventType": "Updated",
        "timestamp": "2026-11-27T00:00:00.000Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": n,
        "transactionInfo": {"transactionId": "probe-1"},
        "offline": True,
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": "2026-11-27T00:00:00.000Z", "sampledValue": [value]}],
    }


def run() -> list[dict[str, Any]]:
    configure("warning", "console", sys.stderr)
    total = int(os.environ.get("OCPP_BENCH_MESSAGES", "100000"))
    rows = []
    for delay_s, count in ((0.0, total), (WAN_DELAY_S, max(total // 25, 200))):
        for version in VERSIONS:
            with tempfile.TemporaryDirectory(prefix="bench-ocpp-") as workdir:
                rows.append(asyncio.run(_measure(count, Path(workdir), delay_s, version)))
    return rows


if __name__ == "__main__":
    print(run())
