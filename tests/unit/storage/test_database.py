from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_controller.storage.backup import backup_file
from edge_controller.storage.database import Database
from edge_controller.storage.errors import StorageError
from edge_controller.storage.outbox import Outbox
from tests.outbox_events import sampled


async def test_pragmas_are_durable_settings(db: Database) -> None:
    def pragmas(conn: sqlite3.Connection) -> tuple[str, int]:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
        return str(mode), int(sync)

    assert await db.read(pragmas) == ("wal", 2)  # 2 = FULL


async def test_a_failing_job_does_not_undo_its_batch_neighbours(db: Database) -> None:
    def good(n: int) -> Callable[[sqlite3.Connection], int]:
        def job(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO outbox_stats VALUES (?, 0)", (f"k{n}",))
            return n

        return job

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO outbox_stats VALUES ('bad', 0)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    results = await asyncio.gather(
        *(db.write(good(n)) for n in range(5)),
        db.write(bad),
        return_exceptions=True,
    )
    assert results[:5] == [0, 1, 2, 3, 4]
    assert isinstance(results[5], StorageError)

    def names(conn: sqlite3.Connection) -> list[str]:
        return [str(r[0]) for r in conn.execute("SELECT name FROM outbox_stats ORDER BY name")]

    assert await db.read(names) == ["k0", "k1", "k2", "k3", "k4"]


async def test_cancelled_writer_does_not_break_later_writes(db: Database) -> None:
    outbox = Outbox(db)
    tasks = [asyncio.create_task(outbox.append("cp", sampled(None, 0))) for _ in range(20)]
    await asyncio.sleep(0)
    tasks[5].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    seq = await outbox.append("cp", sampled(None, 1))
    backlog = await outbox.backlog()
    assert 20 <= backlog <= 21 and seq > 0


async def test_a_cancelled_leader_leaves_its_batch_its_real_outcome(db: Database) -> None:
    """The writer that leads a group commit is cancelled while the batch is on the database
    thread: the batch still commits, and the other writers in it are told so (told "failed",
    a caller would record the same sample twice)."""
    gates = [threading.Event(), threading.Event()]
    running = [threading.Event(), threading.Event()]

    def held(n: int) -> Callable[[sqlite3.Connection], int]:
        def job(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO outbox_stats VALUES (?, 0)", (f"held{n}",))
            running[n].set()
            gates[n].wait(5)
            return n

        return job

    def quick(n: int) -> Callable[[sqlite3.Connection], int]:
        def job(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO outbox_stats VALUES (?, 0)", (f"k{n}",))
            return n

        return job

    first = asyncio.create_task(db.write(held(0)))
    await asyncio.to_thread(running[0].wait, 5)
    # These three queue up behind the first commit and then share one: the leader's job holds.
    leader = asyncio.create_task(db.write(held(1)))
    followers = [asyncio.create_task(db.write(quick(n))) for n in range(2)]
    await asyncio.sleep(0)
    gates[0].set()
    assert await first == 0
    await asyncio.to_thread(running[1].wait, 5)
    leader.cancel()
    gates[1].set()
    assert await asyncio.gather(*followers) == [0, 1]
    with pytest.raises(asyncio.CancelledError):
        await leader

    def names(conn: sqlite3.Connection) -> list[str]:
        return [str(r[0]) for r in conn.execute("SELECT name FROM outbox_stats ORDER BY name")]

    assert await db.read(names) == ["held0", "held1", "k0", "k1"]


async def test_online_backup_is_a_consistent_copy(db: Database, tmp_path: Path) -> None:
    outbox = Outbox(db)
    for i in range(10):
        await outbox.append("cp", sampled(None, i))
    dest = await db.backup(tmp_path / "backups" / "copy.db")
    copy = await Database.open(dest)
    try:
        assert await Outbox(copy).backlog() == 10
    finally:
        await copy.close()


async def test_file_backup_while_the_database_is_open(db: Database, tmp_path: Path) -> None:
    await Outbox(db).append("cp", sampled(None, 0))
    dest = await asyncio.to_thread(backup_file, db.path, tmp_path / "cli-copy.db")
    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    finally:
        conn.close()


def test_file_backup_of_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no database"):
        backup_file(tmp_path / "absent.db", tmp_path / "copy.db")
