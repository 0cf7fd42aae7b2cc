"""The daemon's SQLite write and read patterns through our connection thread and through aiosqlite.

Same statements, same schema, same pragmas (WAL, synchronous=FULL; an ack batch commits NORMAL as
``Outbox.ack_many`` does), one database file per variant on the same disk, in one run. Rounds
alternate between the variants (their order rotates every round) so machine noise hits all alike.

Patterns:

- ``append``: one outbox message, durable when it returns (``Outbox.append``);
- ``sample``: a session's meter value and its outbox message in one transaction
  (``SessionStore.sample``);
- ``ack 64``: acknowledge a batch of 64 messages (``Outbox.ack_many``);
- ``read ahead 64``: the next 64 pending messages of an identity (``Outbox.peek_many``).

Variants:

- ``raw sqlite3``: the statements on the event loop's own thread (blocks it; the baseline);
- ``ours``: ``storage.Database`` and its stores (one thread hop per transaction, group commit);
- ``aiosqlite``: its public API, one hop per statement (``execute``, ``execute_insert``,
  ``execute_fetchall``), one transaction at a time under an ``asyncio.Lock``;
- ``aiosqlite + group commit``: the same group commit as ``Database`` (jobs arriving during a
  commit share the next one, a savepoint each), with aiosqlite as the thread bridge.

``one at a time``: a single writer awaits each operation; ``24 at once``: 24 writers (one per
connector) submit together, as the sessions of a busy site do. ``loop_cpu_us`` is the CPU time
the event loop's thread spends per operation (what the control loop shares); ``p99_ms`` is the
caller's wait.

Behaviours: 24 writers record samples while 30 % of the writes are cancelled at a random moment;
each caller's outcome is compared with the file (``error_stored``: told "failed" though stored;
``torn``: a meter value without its message or the reverse). A child process appends until it
is killed (SIGKILL); every append that had returned must be in the file. Memory:
``bench/footprint.py``, each variant in a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from bench import footprint
from edge_controller.storage.database import Database
from edge_controller.storage.migrations import migrate
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.rows import SELECT_MESSAGE, OutboxMessage, message_from_row
from edge_controller.storage.sessions_store import MessageToQueue, SessionStore
from edge_controller.storage.startup import PRAGMAS, apply_pragmas

T = TypeVar("T")
ROUNDS = 8
OPS = 160  # per variant, pattern and round
ACK_OPS = 40
READ_OPS = 200
BATCH = 64
CONNECTORS = 24
READ_BACKLOG = 20_000
PAYLOAD = {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z"}]}
PAYLOAD_TEXT = json.dumps(PAYLOAD, separators=(",", ":"))

INSERT_OUTBOX = (
    "INSERT INTO outbox (identity, action, payload, kind, session_local_id, created_at_s)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
UPDATE_SESSION = (
    "UPDATE sessions SET last_meter_wh = max(last_meter_wh, coalesce(?, 0)),"
    " last_meter_at_s = CASE WHEN ? IS NULL THEN last_meter_at_s"
    " ELSE max(last_meter_at_s, ?) END"
    " WHERE local_id = ? AND stop_at_s IS NULL AND start_at_s <= ?"
)
INSERT_METER = (
    "INSERT INTO meter_values (session_local_id, at_s, energy_wh, power_w, context)"
    " VALUES (?, ?, ?, ?, 'Sample.Periodic')"
)
SELECT_AHEAD = (
    SELECT_MESSAGE + " WHERE o.identity = ? AND o.state = 'pending' AND o.seq > ?"
    " ORDER BY o.seq LIMIT ?"
)


def _ack_sql(count: int) -> str:
    marks = ",".join("?" * count)
    return (
        "UPDATE outbox SET state = 'acked', done_at_s = ?"
        f" WHERE seq IN ({marks}) AND state != 'acked'"
    )


def _prepare(path: Path, ack_rows: int) -> None:
    """Schema, the sessions sampled and the messages acked and read, identical in every file."""
    conn = sqlite3.connect(path, isolation_level=None)
    apply_pragmas(conn)
    migrate(conn)
    conn.execute("BEGIN")
    for n in range(CONNECTORS):
        conn.execute(
            "INSERT INTO sessions (connector_id, id_tag, start_at_s, meter_start_wh,"
            " last_meter_wh, last_meter_at_s) VALUES (?, 'T', 0, 0, 0, 0)",
            (f"c:{n + 1}",),
        )
    rows = [("ack", PAYLOAD_TEXT, float(i)) for i in range(ack_rows)]
    rows += [("read", PAYLOAD_TEXT, float(i)) for i in range(READ_BACKLOG)]
    conn.executemany(
        "INSERT INTO outbox (identity, action, payload, kind, created_at_s)"
        " VALUES (?, 'MeterValues', ?, 'sample', ?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


class Variant(Protocol):
    name: str

    async def append(self, i: int) -> None: ...

    async def sample(self, session: int, i: int) -> None: ...

    async def ack(self, seqs: list[int]) -> None: ...

    async def read_ahead(self, after_seq: int) -> list[OutboxMessage]: ...

    async def close(self) -> None: ...


class Raw:
    """The baseline: the standard sqlite3 module on the loop's thread."""

    name = "raw sqlite3"

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        apply_pragmas(self.conn)

    def _transaction(self, fn: Callable[[sqlite3.Connection], None], full: bool = True) -> None:
        conn = self.conn
        if not full:
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        fn(conn)
        conn.execute("COMMIT")
        if not full:
            conn.execute("PRAGMA synchronous = FULL")

    async def append(self, i: int) -> None:
        def job(conn: sqlite3.Connection) -> None:
            payload = json.dumps({**PAYLOAD, "i": i}, separators=(",", ":"), allow_nan=False)
            conn.execute(INSERT_OUTBOX, ("site", "MeterValues", payload, "other", None, float(i)))

        self._transaction(job)

    async def sample(self, session: int, i: int) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(UPDATE_SESSION, (i, i, float(i), session, float(i)))
            conn.execute(INSERT_METER, (session, float(i), i, None))
            payload = json.dumps({**PAYLOAD, "i": i}, separators=(",", ":"), allow_nan=False)
            conn.execute(
                INSERT_OUTBOX, ("site", "MeterValues", payload, "sample", session, float(i))
            )

        self._transaction(job)

    async def ack(self, seqs: list[int]) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(_ack_sql(len(seqs)), (time.time(), *seqs))

        self._transaction(job, full=False)

    async def read_ahead(self, after_seq: int) -> list[OutboxMessage]:
        rows = self.conn.execute(SELECT_AHEAD, ("read", after_seq, BATCH)).fetchall()
        return [message_from_row(row) for row in rows]

    async def close(self) -> None:
        self.conn.close()


class Ours:
    """The daemon's storage: ``Database`` with ``Outbox`` and ``SessionStore``."""

    name = "ours"

    def __init__(self, db: Database) -> None:
        self.db, self.outbox, self.sessions = db, Outbox(db), SessionStore(db)

    @classmethod
    async def open(cls, path: Path) -> Ours:
        return cls(await Database.open(path))

    async def append(self, i: int) -> None:
        await self.outbox.append("site", "MeterValues", {**PAYLOAD, "i": i})

    async def sample(self, session: int, i: int) -> None:
        message = MessageToQueue("site", "MeterValues", {**PAYLOAD, "i": i}, "sample")
        await self.sessions.sample(session, float(i), i, messages=(message,))

    async def ack(self, seqs: list[int]) -> None:
        await self.outbox.ack_many(seqs)

    async def read_ahead(self, after_seq: int) -> list[OutboxMessage]:
        return await self.outbox.peek_many("read", after_seq=after_seq, limit=BATCH)

    async def close(self) -> None:
        await self.db.close()


AioJob = Callable[[aiosqlite.Connection], Awaitable[T]]


@dataclass
class _Pending:
    job: AioJob[Any]
    future: asyncio.Future[Any]
    full: bool


class Aio:
    """aiosqlite as the bridge: every statement one hop to its thread. ``grouped``: the same
    group commit as ``Database`` on top (a savepoint per job when several share a commit)."""

    def __init__(self, conn: aiosqlite.Connection, grouped: bool) -> None:
        self.conn, self.grouped = conn, grouped
        self.name = "aiosqlite + group commit" if grouped else "aiosqlite"
        self._lock = asyncio.Lock()
        self._pending: list[_Pending] = []

    @classmethod
    async def open(cls, path: Path, grouped: bool) -> Aio:
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        return cls(conn, grouped)

    async def write(self, job: AioJob[T], full: bool = True) -> T:
        if not self.grouped:
            async with self._lock:
                outcome: T = (await self._transaction([job], full))[0]
                return outcome
        entry = _Pending(job, asyncio.get_running_loop().create_future(), full)
        self._pending.append(entry)
        try:
            while not entry.future.done():
                async with self._lock:
                    if not entry.future.done():
                        await self._lead(entry)
        except asyncio.CancelledError:
            if entry in self._pending:
                self._pending.remove(entry)
            raise
        grouped: T = entry.future.result()
        return grouped

    async def _lead(self, entry: _Pending) -> None:
        """Commit what is pending. Cancelled, the transaction is rolled back (its statements
        are separate hops, it cannot run on alone): the others in it are told it failed."""
        batch, self._pending = self._pending, []
        try:
            results = await self._transaction([p.job for p in batch], any(p.full for p in batch))
        except BaseException as exc:
            for pending in batch:
                if pending is not entry and not pending.future.done():
                    pending.future.set_exception(RuntimeError(f"batch failed: {exc!r}"))
                    pending.future.add_done_callback(_retrieved)
            raise
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    async def _transaction(self, jobs: list[AioJob[Any]], full: bool) -> list[Any]:
        conn = self.conn
        if not full:
            await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if len(jobs) == 1:
                results = [await jobs[0](conn)]
            else:
                results = [await self._in_savepoint(job) for job in jobs]
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        finally:
            if not full:
                await conn.execute("PRAGMA synchronous = FULL")
        return results

    async def _in_savepoint(self, job: AioJob[T]) -> T:
        await self.conn.execute("SAVEPOINT job")
        try:
            result = await job(self.conn)
        except Exception:
            await self.conn.execute("ROLLBACK TO job")
            await self.conn.execute("RELEASE job")
            raise
        await self.conn.execute("RELEASE job")
        return result

    async def append(self, i: int) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            payload = json.dumps({**PAYLOAD, "i": i}, separators=(",", ":"), allow_nan=False)
            args = ("site", "MeterValues", payload, "other", None, time.time())
            await conn.execute_insert(INSERT_OUTBOX, args)

        await self.write(job)

    async def sample(self, session: int, i: int) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            cursor = await conn.execute(UPDATE_SESSION, (i, i, float(i), session, float(i)))
            if cursor.rowcount != 1:
                raise RuntimeError("session not open")
            await conn.execute_insert(INSERT_METER, (session, float(i), i, None))
            payload = json.dumps({**PAYLOAD, "i": i}, separators=(",", ":"), allow_nan=False)
            args = ("site", "MeterValues", payload, "sample", session, float(i))
            await conn.execute_insert(INSERT_OUTBOX, args)

        await self.write(job)

    async def ack(self, seqs: list[int]) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(_ack_sql(len(seqs)), (time.time(), *seqs))

        await self.write(job, full=False)

    async def read_ahead(self, after_seq: int) -> list[OutboxMessage]:
        rows = await self.conn.execute_fetchall(SELECT_AHEAD, ("read", after_seq, BATCH))
        return [message_from_row(row) for row in rows]

    async def close(self) -> None:
        await self.conn.close()


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A writer cancelled meanwhile never reads its future's exception."""
    if not future.cancelled():
        future.exception()


@dataclass
class Tally:
    ops: int = 0
    elapsed_s: float = 0.0
    loop_cpu_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ops / self.elapsed_s


async def _timed(op: Awaitable[Any], tally: Tally) -> None:
    started = time.perf_counter()
    await op
    tally.latencies_s.append(time.perf_counter() - started)


@dataclass
class Cursor:
    """Where each variant is in its own ack and read lines (the files start identical)."""

    acked: int = 0
    read_at: int = 0
    i: int = 0


async def _round(variant: Variant, key: str, tally: Tally, where: Cursor) -> None:
    cpu, started = time.thread_time(), time.perf_counter()
    if key == "append":
        for _ in range(OPS):
            where.i += 1
            await _timed(variant.append(where.i), tally)
        tally.ops += OPS
    elif key == "sample":
        for _ in range(OPS):
            where.i += 1
            await _timed(variant.sample(1, where.i), tally)
        tally.ops += OPS
    elif key in ("append 24", "sample 24"):
        for _ in range(OPS // CONNECTORS):
            where.i += 1
            ops = (
                variant.append(where.i) if key == "append 24" else variant.sample(n + 1, where.i)
                for n in range(CONNECTORS)
            )
            await asyncio.gather(*(_timed(op, tally) for op in ops))
        tally.ops += OPS // CONNECTORS * CONNECTORS
    elif key == "ack":
        for _ in range(ACK_OPS):
            seqs = list(range(where.acked + 1, where.acked + 1 + BATCH))
            where.acked += BATCH
            await _timed(variant.ack(seqs), tally)
        tally.ops += ACK_OPS
    else:
        for _ in range(READ_OPS):
            where.read_at = (where.read_at + 97) % (READ_BACKLOG - BATCH)
            await _timed(variant.read_ahead(where.read_at), tally)
        tally.ops += READ_OPS
    tally.elapsed_s += time.perf_counter() - started
    tally.loop_cpu_s += time.thread_time() - cpu


PATTERNS: dict[str, tuple[str, str]] = {
    "append": ("append one message, durable", "one at a time"),
    "append 24": ("append one message, durable", f"{CONNECTORS} at once"),
    "sample": ("session sample + message, one transaction", "one at a time"),
    "sample 24": ("session sample + message, one transaction", f"{CONNECTORS} at once"),
    "ack": (f"ack a batch of {BATCH}", "one at a time"),
    "read": (f"read ahead {BATCH} pending", "one at a time"),
}


def _p(latencies_s: list[float], q: int) -> float:
    return round(statistics.quantiles(latencies_s, n=100)[q - 1] * 1000, 3)


def _rows(tallies: dict[tuple[str, str], Tally], names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for key, (pattern, mode) in PATTERNS.items():
        raw = tallies.get((key, Raw.name))
        ours = tallies[(key, Ours.name)]
        for name in names:
            tally = tallies.get((key, name))
            if tally is None:
                continue
            rows.append(
                {
                    "pattern": pattern,
                    "mode": mode,
                    "variant": name,
                    "ops_per_s": round(tally.rate, 1),
                    "vs_raw": round(tally.rate / raw.rate, 2) if raw else "",
                    "vs_ours": round(tally.rate / ours.rate, 2),
                    "p50_ms": _p(tally.latencies_s, 50),
                    "p99_ms": _p(tally.latencies_s, 99),
                    "loop_cpu_us": round(tally.loop_cpu_s / tally.ops * 1e6, 1),
                }
            )
    return rows


async def _compare(root: Path) -> list[dict[str, Any]]:
    ack_rows = ROUNDS * ACK_OPS * BATCH
    names = [Raw.name, Ours.name, "aiosqlite", "aiosqlite + group commit"]
    for n in range(len(names)):
        _prepare(root / f"v{n}.db", ack_rows)
    variants: list[Variant] = [
        Raw(root / "v0.db"),
        await Ours.open(root / "v1.db"),
        await Aio.open(root / "v2.db", grouped=False),
        await Aio.open(root / "v3.db", grouped=True),
    ]
    cursors = {v.name: Cursor() for v in variants}
    tallies: dict[tuple[str, str], Tally] = {}
    try:
        for round_no in range(ROUNDS):
            for key in PATTERNS:
                # Raw sqlite3 runs its statements one after another whatever the callers: it is
                # measured one at a time only. Group commit changes nothing for a lone writer.
                order = variants[round_no % len(variants) :] + variants[: round_no % len(variants)]
                for variant in order:
                    if variant.name == Raw.name and key.endswith(" 24"):
                        continue
                    if variant.name == "aiosqlite + group commit" and not key.endswith(" 24"):
                        continue
                    tally = tallies.setdefault((key, variant.name), Tally())
                    await _round(variant, key, tally, cursors[variant.name])
    finally:
        for variant in variants:
            await variant.close()
    return _rows(tallies, names)


CANCEL_OPS = 40  # per writer
CANCEL_SHARE = 0.3  # of the writes cancelled
CANCEL_WITHIN_S = 0.004
CRASH_TRIALS = 3
CRASH_AFTER_S = 1.0


async def _cancel_load(variant: Variant, rng: random.Random) -> dict[int, str]:
    """24 writers record samples; some writes are cancelled after a random moment. The outcome
    each caller saw, per write (its ``i``)."""
    outcomes: dict[int, str] = {}

    async def writer(n: int) -> None:
        for k in range(CANCEL_OPS):
            i = 1_000_000 + n * CANCEL_OPS + k
            task = asyncio.create_task(variant.sample(n + 1, i))
            if rng.random() < CANCEL_SHARE:
                await asyncio.sleep(rng.uniform(0.0, CANCEL_WITHIN_S))
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                outcomes[i] = "cancelled"
            except Exception:
                outcomes[i] = "error"
            else:
                outcomes[i] = "ok"

    await asyncio.gather(*(writer(n) for n in range(CONNECTORS)))
    return outcomes


def _recorded(path: Path) -> tuple[set[int], set[int]]:
    """The writes (``i``) whose meter value, and whose outbox message, are in the file."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        meters = {int(r[0]) for r in conn.execute("SELECT at_s FROM meter_values")}
        messages = {
            int(r[0])
            for r in conn.execute(
                "SELECT json_extract(payload, '$.i') FROM outbox WHERE kind = 'sample'"
                " AND json_extract(payload, '$.i') IS NOT NULL"
            )
        }
    return meters, messages


async def _cancellation(root: Path) -> list[dict[str, Any]]:
    rows = []
    openers: list[tuple[str, Callable[[Path], Awaitable[Variant]]]] = [
        (Ours.name, Ours.open),
        ("aiosqlite", lambda path: Aio.open(path, grouped=False)),
        ("aiosqlite + group commit", lambda path: Aio.open(path, grouped=True)),
    ]
    for n, (name, opener) in enumerate(openers):
        path = root / f"cancel{n}.db"
        _prepare(path, 0)
        variant = await opener(path)
        try:
            outcomes = await _cancel_load(variant, random.Random(15))
            await variant.append(0)  # still usable after the cancellations?
            usable = "yes"
        except Exception as exc:
            usable = f"no: {exc}"
        finally:
            await variant.close()
        rows.append(_cancel_row(name, outcomes, *_recorded(path), usable))
    return rows


def _cancel_row(
    name: str, outcomes: dict[int, str], meters: set[int], messages: set[int], usable: str
) -> dict[str, Any]:
    def count(outcome: str, *, stored: bool) -> int:
        return sum(1 for i, seen in outcomes.items() if seen == outcome and (i in meters) == stored)

    return {
        "pattern": f"{CONNECTORS} writers, {CANCEL_SHARE:.0%} of {CONNECTORS * CANCEL_OPS} "
        "samples cancelled",
        "variant": name,
        "ok_stored": count("ok", stored=True),
        "ok_lost": count("ok", stored=False),
        "error_stored": count("error", stored=True),
        "error_not_stored": count("error", stored=False),
        "cancelled_stored": count("cancelled", stored=True),
        "cancelled_not_stored": count("cancelled", stored=False),
        "torn": len(meters ^ messages),
        "usable_after": usable,
    }


def _crash_child(name: str, path: str) -> None:
    """Append until killed, printing each ``i`` once its append has returned."""

    async def go() -> None:
        opener = {Ours.name: Ours.open, "aiosqlite": lambda p: Aio.open(p, grouped=False)}
        variant = await opener[name](Path(path))
        i = 0
        while True:
            i += 1
            await variant.append(i)
            sys.stdout.write(f"{i}\n")
            sys.stdout.flush()

    asyncio.run(go())


def _crash_trial(name: str, path: Path) -> tuple[int, int]:
    """(appends that had returned when the process was killed, of those not in the file)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_storage_vs_aiosqlite", "crash", name, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    time.sleep(CRASH_AFTER_S)
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    returned = {int(line) for line in out.splitlines() if line.isdigit()}  # not the log
    with contextlib.closing(sqlite3.connect(path)) as conn:
        stored = {
            int(r[0])
            for r in conn.execute(
                "SELECT json_extract(payload, '$.i') FROM outbox WHERE kind = 'other'"
            )
        }
    return len(returned), len(returned - stored)


def _crashes(root: Path) -> list[dict[str, Any]]:
    rows = []
    for name in (Ours.name, "aiosqlite"):
        trials = []
        for trial in range(CRASH_TRIALS):
            path = root / f"crash-{name}-{trial}.db"
            _prepare(path, 0)
            trials.append(_crash_trial(name, path))
        rows.append(
            {
                "pattern": f"append, process killed after {CRASH_AFTER_S:g} s, x{CRASH_TRIALS}",
                "variant": name,
                "returned": sum(r for r, _ in trials),
                "returned_lost": sum(lost for _, lost in trials),
            }
        )
    return rows


def _footprints() -> list[dict[str, Any]]:
    return [
        {"pattern": f"memory, {footprint.STORAGE_WRITES} appends", "variant": name}
        | footprint.measure("storage", name, {})
        for name in (Ours.name, "aiosqlite")
    ]


def run() -> list[dict[str, Any]]:
    # /tmp is on the same disk as the daemon's state directory here; commits really fsync.
    with tempfile.TemporaryDirectory(prefix="bench-aiosqlite-") as tmp:
        rows = asyncio.run(_compare(Path(tmp)))
        rows += asyncio.run(_cancellation(Path(tmp)))
        rows += _crashes(Path(tmp))
    return rows + _footprints()


if __name__ == "__main__":
    if sys.argv[1:2] == ["crash"]:
        _crash_child(sys.argv[2], sys.argv[3])
    else:
        for row in run():
            print(row)
