"""Storage benchmark: durable session-event commits against raw sqlite3, and the outbox at scale.

A *session event* is one meter sample of a running session: the session row update, the meter
value and its outbox message, committed together (WAL, synchronous=FULL). The baseline does
the same statements with the standard sqlite3 module, one transaction per event, in the same
run on the same disk, so the ratio is meaningful on a noisy machine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from edge_controller.domain.sessions.events import (
    MeterSampled,
    Quantity,
    Reading,
    ReadingContext,
)
from edge_controller.storage.database import Database
from edge_controller.storage.migrations import migrate
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.codec import encode
from edge_controller.storage.sessions_store import EventToQueue, SessionStart, SessionStore
from edge_controller.storage.startup import apply_pragmas

EVENTS = 960
ROUNDS = 8
CONNECTORS = 24
OUTBOX_ROWS = 250_000
OUTBOX_CYCLES = 1_000


def _sample(local_id: int | None, i: int) -> MeterSampled:
    """A session's meter sample: the register and the power, as the session side takes it."""
    readings = (
        Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal(i)),
        Reading(Quantity.POWER_IMPORT_W, Decimal(7360)),
    )
    return MeterSampled(local_id, "c:1", float(i), ReadingContext.PERIODIC, readings)


def _p99_ms(latencies_s: list[float]) -> float:
    return round(statistics.quantiles(latencies_s, n=100)[98] * 1000, 2)


class _Raw:
    """The baseline: the same statements through the standard sqlite3 module."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        apply_pragmas(self.conn)
        migrate(self.conn)
        self.conn.execute(
            "INSERT INTO sessions (connector_id, id_tag, start_at_s, meter_start_wh,"
            " last_meter_wh, last_meter_at_s) VALUES ('c:1', 'T', 0, 0, 0, 0)"
        )

    def event(self, i: int) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE sessions SET last_meter_wh = ?, last_meter_at_s = ? WHERE local_id = 1",
            (i, float(i)),
        )
        conn.execute(
            "INSERT INTO meter_values (session_local_id, at_s, energy_wh, context)"
            " VALUES (1, ?, ?, 'periodic')",
            (float(i), i),
        )
        event_type, body = encode(_sample(1, i))
        conn.execute(
            "INSERT INTO outbox (identity, event, body, kind, session_local_id, created_at_s)"
            " VALUES ('site', ?, ?, 'sample', 1, ?)",
            (event_type, body, float(i)),
        )
        conn.execute("COMMIT")


@dataclass
class _Tally:
    events: int = 0
    elapsed_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    def row(self, case: str, baseline: _Tally | None) -> dict[str, Any]:
        rate = self.events / self.elapsed_s
        ratio = rate / (baseline.events / baseline.elapsed_s) if baseline else 1.0
        return {
            "case": case, "events_per_s": round(rate, 1), "ratio_vs_raw": round(ratio, 2),
            "p99_ms": _p99_ms(self.latencies_s),
        }  # fmt: skip


async def _open_sessions(store: SessionStore, count: int) -> list[int]:
    ids = []
    for n in range(count):
        record = await store.start(SessionStart(f"c:{n + 1}", "T", 0.0, 0))
        ids.append(record.local_id)
    return ids


async def _timed_sample(store: SessionStore, local_id: int, i: int, tally: _Tally) -> None:
    t0 = time.perf_counter()
    event = EventToQueue("site", _sample(local_id, i))
    await store.sample(local_id, float(i), i, events=(event,))
    tally.latencies_s.append(time.perf_counter() - t0)
    tally.events += 1


def _raw_round(raw: _Raw, tally: _Tally, events: int) -> None:
    started = time.perf_counter()
    for i in range(events):
        t0 = time.perf_counter()
        raw.event(i)
        tally.latencies_s.append(time.perf_counter() - t0)
    tally.events += events
    tally.elapsed_s += time.perf_counter() - started


async def _ours_round(store: SessionStore, ids: list[int], tally: _Tally, batches: int) -> None:
    started = time.perf_counter()
    for i in range(batches):
        await asyncio.gather(*(_timed_sample(store, sid, i, tally) for sid in ids))
    tally.elapsed_s += time.perf_counter() - started


async def _compare(root: Path) -> list[dict[str, Any]]:
    """Rounds alternate between the three cases so disk noise hits all of them alike."""
    raw = _Raw(root / "raw.db")
    seq_db, grp_db = await Database.open(root / "seq.db"), await Database.open(root / "grp.db")
    seq_store, grp_store = SessionStore(seq_db), SessionStore(grp_db)
    seq_ids, grp_ids = await _open_sessions(seq_store, 1), await _open_sessions(grp_store, 24)
    tallies = _Tally(), _Tally(), _Tally()
    for _ in range(ROUNDS):
        _raw_round(raw, tallies[0], EVENTS // ROUNDS)
        await _ours_round(seq_store, seq_ids, tallies[1], EVENTS // ROUNDS)
        await _ours_round(grp_store, grp_ids, tallies[2], EVENTS // ROUNDS // CONNECTORS)
    raw.conn.close()
    await seq_db.close()
    await grp_db.close()
    return [
        tallies[0].row("raw sqlite3, one event per commit", None),
        tallies[1].row("storage, one event at a time", tallies[0]),
        tallies[2].row(f"storage, {CONNECTORS} connectors at once", tallies[0]),
    ]


async def _prefill(db: Database, rows: int) -> None:
    event_type, body = encode(_sample(None, 0))
    values = [(f"cp{i % 24}", event_type, body, float(i)) for i in range(rows)]

    def job(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO outbox (identity, event, body, kind, created_at_s)"
            " VALUES (?, ?, ?, 'sample', ?)",
            values,
        )

    await db.write(job)


async def _outbox_cycles(path: Path) -> dict[str, Any]:
    db = await Database.open(path)
    outbox = Outbox(db)
    await _prefill(db, OUTBOX_ROWS)
    backlog = await outbox.backlog()
    started = time.perf_counter()
    for i in range(OUTBOX_CYCLES):
        identity = f"cp{i % 24}"
        await outbox.append(identity, _sample(None, i))
        message = await outbox.peek(identity)
        assert message is not None
        await outbox.ack(message.seq)
    elapsed = time.perf_counter() - started
    await db.close()
    return {"backlog_rows": backlog, "cycles_per_s": round(OUTBOX_CYCLES / elapsed, 1)}


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        rows = asyncio.run(_compare(Path(tmp)))
        outbox = asyncio.run(_outbox_cycles(Path(tmp) / "outbox.db"))
    rows.append({"case": "outbox append+peek+ack", **outbox})
    return rows
