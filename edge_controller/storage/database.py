"""The one SQLite connection of the daemon, with group commit.

Every write is a *job*: a function given the connection inside an open transaction. ``write()``
returns only after the job's transaction is durably committed (WAL, ``synchronous=FULL``).
Jobs that arrive while a commit is in flight are committed together in the next transaction
(one fsync for many events), each inside its own savepoint so one failing job never undoes
another. A whole batch runs on the connection's thread in one call, so no other job can see or
interleave with a half-done transaction.

A job that only has to survive the *process* being killed (not a power loss) may say so with
``write(job, sync="normal")``: a batch of only such jobs commits with ``synchronous=NORMAL``, which
in WAL mode leaves the commit in the OS page cache without an fsync. A batch with any FULL job
commits FULL, and the connection is FULL again after every NORMAL batch.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal, TypeVar

from edge_controller.log import get_logger
from edge_controller.storage.backup import backup_connection
from edge_controller.storage.errors import StorageError
from edge_controller.storage.guard import FileCheck, FileIds, change_of, file_ids, restore
from edge_controller.storage.outbox.queued import collecting
from edge_controller.storage.outbox.rows import last_seq
from edge_controller.storage.startup import apply_pragmas, explain, prepare, write_marker
from edge_controller.storage.worker import SqliteWorker

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
_Outcome = tuple[bool, Any]  # (succeeded, result or exception)
# Each job's outcome, and the identities whose outbox rows the batch put in line.
_Committed = tuple[list[_Outcome], frozenset[str]]
Sync = Literal["full", "normal"]
_Pending = tuple[Job[Any], "asyncio.Future[Any]", Sync]

log = get_logger("storage")


class Database:
    """Use ``await Database.open(path)``; close with ``await db.close()``."""

    def __init__(
        self,
        worker: SqliteWorker,
        path: Path,
        version: int,
        files: FileIds,
        outbox_seq_at_open: int = 0,
    ) -> None:
        self._worker = worker
        self.path = path
        self.schema_version = version
        # Every outbox row this process appends has a higher sequence: acks an earlier process
        # journaled are for rows up to this one (``Outbox``).
        self.outbox_seq_at_open = outbox_seq_at_open
        self._files = files  # the files the connection opened; read and set on its thread
        self._lock = asyncio.Lock()
        self._pending: list[_Pending] = []
        self.commits = 0
        # Told after each commit which identities it put outbox rows in line for (``Outbox``).
        self.queued_listeners: list[Callable[[Collection[str]], None]] = []

    @classmethod
    async def open(cls, path: Path, *, now_s: float | None = None) -> Database:
        """Check integrity, migrate, and open ``path``. Raises DatabaseCorrupt / StorageError."""
        at_s = time.time() if now_s is None else now_s
        try:
            version = await asyncio.to_thread(prepare, path, at_s)
            worker = await SqliteWorker.start(path, apply_pragmas)
        except (sqlite3.Error, OSError) as exc:
            raise explain(exc, path) from exc
        files = await worker.call(lambda _: file_ids(path))
        outbox_seq = await worker.call(last_seq)
        log.info("database opened", path=str(path), schema_version=version)
        return cls(worker, path, version, files, outbox_seq)

    async def verify_files(self, at_s: float) -> FileCheck | None:
        """Compare the files at ``path`` with the open ones; if they were removed, replaced or
        emptied, put the open database back at ``path`` (see ``storage.guard``)."""
        found: list[FileCheck] = []

        def check(conn: sqlite3.Connection) -> sqlite3.Connection:
            change = change_of(self.path, self._files)
            if change is None:
                return conn
            try:
                fresh, moved = restore(conn, self.path, self._files, apply_pragmas, at_s)
                write_marker(self.path, at_s)
            except (sqlite3.Error, OSError, StorageError) as exc:
                found.append(FileCheck(change, restored=False, error=str(exc)))
                return conn
            self._files = file_ids(self.path)
            found.append(FileCheck(change, restored=True, set_aside=moved))
            return fresh

        await self._worker.replace(check)
        return found[0] if found else None

    async def close(self) -> None:
        async with self._lock:
            await self._worker.stop()

    async def read(self, job: Job[T]) -> T:
        """Run a read-only job; it sees only committed data."""
        try:
            return await self._worker.call(job)
        except sqlite3.Error as exc:
            raise StorageError(f"database read failed: {exc}") from exc

    async def write(self, job: Job[T], *, sync: Sync = "full") -> T:
        """Run ``job`` in a transaction; returns its result once the commit is durable.

        ``sync="normal"``: durable against the process being killed, not against a power loss.
        """
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry: _Pending = (job, fut, sync)
        self._pending.append(entry)
        try:
            while not fut.done():
                async with self._lock:
                    if not fut.done():
                        batch, self._pending = self._pending, []
                        await self._commit(batch)
        except asyncio.CancelledError:
            if entry in self._pending:
                self._pending.remove(entry)
            raise
        result: T = fut.result()
        return result

    async def backup(self, dest: Path) -> Path:
        """Online copy of the live database to ``dest`` (written atomically); returns ``dest``."""
        return await backup_connection(self._worker, dest)

    async def _commit(self, batch: list[_Pending]) -> None:
        jobs = [job for job, _, _ in batch]
        full = any(sync == "full" for _, _, sync in batch)
        call = asyncio.ensure_future(self._worker.call(_run_batch, jobs, full))
        try:
            await asyncio.shield(call)
        except asyncio.CancelledError:
            # The batch runs on in the thread whoever led it: the other writers in it learn
            # its real outcome (told "failed", a committed write would be made again).
            call.add_done_callback(functools.partial(self._settle, batch))
            raise
        except sqlite3.Error:
            pass  # settled below
        self._settle(batch, call)

    def _settle(self, batch: list[_Pending], call: asyncio.Future[_Committed]) -> None:
        if call.cancelled():
            _fail(batch, StorageError("write interrupted by shutdown"))
            return
        exc = call.exception()
        if isinstance(exc, sqlite3.Error):
            error = StorageError(f"database commit failed: {exc}")
            error.__cause__ = exc
            _fail(batch, error)
            return
        if exc is not None:
            _fail(batch, StorageError(f"database commit failed: {exc}"))
            return
        self.commits += 1
        outcomes, queued = call.result()
        for (_, fut, _), (ok, value) in zip(batch, outcomes, strict=True):
            if fut.done():  # its writer was cancelled
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
                fut.add_done_callback(_consume_exception)
        # After the writers' futures: a writer that wakes a sender itself on its return does
        # so before that sender runs, and the two wake-ups make one read.
        if queued:
            for listener in self.queued_listeners:
                listener(queued)


def _run_batch(conn: sqlite3.Connection, jobs: list[Job[Any]], full: bool) -> _Committed:
    """On the connection's thread: all jobs in one transaction, one savepoint each."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")  # left open by an interrupted batch
    # SQLite refuses to change the level inside a transaction: it is set between two, on the
    # worker's own connection. Set on every batch, so a FULL commit never depends on an earlier
    # batch having restored the level.
    conn.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")
    try:
        with collecting() as queued:
            outcomes = _run_transaction(conn, jobs)
        return outcomes, frozenset(queued)
    finally:
        if not full:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.execute("PRAGMA synchronous = FULL")


def _run_transaction(conn: sqlite3.Connection, jobs: list[Job[Any]]) -> list[_Outcome]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if len(jobs) == 1:
            outcomes: list[_Outcome] = [(True, jobs[0](conn))]
        else:
            outcomes = [_run_in_savepoint(conn, job) for job in jobs]
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        own_error = isinstance(exc, Exception) and not isinstance(exc, sqlite3.Error)
        if len(jobs) == 1 and own_error:
            return [(False, exc)]  # the job refused its input: nothing was recorded
        raise
    return outcomes


def _run_in_savepoint(conn: sqlite3.Connection, job: Job[Any]) -> _Outcome:
    conn.execute("SAVEPOINT job")
    try:
        value = job(conn)
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return False, _translate(exc)
    conn.execute("RELEASE job")
    return True, value


def _fail(batch: list[_Pending], error: Exception) -> None:
    for _, fut, _ in batch:
        if not fut.done():
            fut.set_exception(error)
            # Marked as retrieved: a cancelled leader never reads its own future.
            fut.add_done_callback(_consume_exception)


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.Error):
        error = StorageError(f"database write failed: {exc}")
        error.__cause__ = exc
        return error
    return exc
