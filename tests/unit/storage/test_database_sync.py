"""Per-write durability: a batch commits FULL unless every job in it asked for NORMAL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest

from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from tests.outbox_events import sampled, started

FULL, NORMAL = 2, 1  # values of PRAGMA synchronous


def _level(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


async def test_a_normal_batch_commits_normal_and_full_is_restored_after(db: Database) -> None:
    assert await db.write(_level, sync="normal") == NORMAL
    assert await db.read(_level) == FULL
    assert await db.write(_level) == FULL


async def test_a_normal_and_a_full_job_batched_together_commit_full(db: Database) -> None:
    gate = threading.Event()

    def held(conn: sqlite3.Connection) -> int:
        gate.wait(5.0)  # holds the commit in flight while the next two jobs queue up
        return _level(conn)

    first = asyncio.create_task(db.write(held, sync="normal"))
    await asyncio.sleep(0)
    normal = asyncio.create_task(db.write(_level, sync="normal"))
    full = asyncio.create_task(db.write(_level))
    await asyncio.sleep(0)
    commits = db.commits
    gate.set()
    assert await first == NORMAL
    assert (await normal, await full) == (FULL, FULL)
    assert db.commits == commits + 2  # the two queued jobs shared one commit
    assert await db.read(_level) == FULL


async def test_full_is_restored_after_a_normal_job_fails(db: Database) -> None:
    def refuses(conn: sqlite3.Connection) -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await db.write(refuses, sync="normal")
    assert await db.read(_level) == FULL


async def test_plain_acks_commit_normal_and_a_transaction_id_commits_full(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels: list[int] = []
    write = db.write

    async def observed(job: Callable[[sqlite3.Connection], Any], **kwargs: Any) -> Any:
        def with_level(conn: sqlite3.Connection) -> Any:
            levels.append(_level(conn))
            return job(conn)

        return await write(with_level, **kwargs)

    outbox = Outbox(db)
    first = await outbox.append("cp", started(1))
    second = await outbox.append("cp", sampled(1, 1000))
    monkeypatch.setattr(db, "write", observed)
    assert await outbox.ack_many([first], remote_ids={1: 42}) == 1
    assert await outbox.ack_many([second]) == 1
    assert levels == [FULL, NORMAL]
    assert await outbox.backlog() == 0


async def test_a_transaction_id_of_the_stations_own_commits_normal(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2.x: the id is made from the session's start, so a power loss costs at most the same
    Started sent again; no fsync holds up the next CALL."""
    levels: list[int] = []
    write = db.write

    async def observed(job: Callable[[sqlite3.Connection], Any], **kwargs: Any) -> Any:
        def with_level(conn: sqlite3.Connection) -> Any:
            levels.append(_level(conn))
            return job(conn)

        return await write(with_level, **kwargs)

    outbox = Outbox(db)
    first = await outbox.append("cp", started(1))
    monkeypatch.setattr(db, "write", observed)
    assert await outbox.ack_many([first], remote_ids={1: 42}, power_safe=False) == 1
    assert levels == [NORMAL]
    sql = "SELECT remote_transaction_id FROM transaction_ids"
    assert await db.read(lambda conn: [tuple(r) for r in conn.execute(sql)]) == [(42,)]
