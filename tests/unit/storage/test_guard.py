"""The database file removed, replaced or emptied under a running daemon: noticed, said, and put
back from the open connection, with every session recorded before and after."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from edge_controller.storage.database import Database
from edge_controller.storage.guard import StorageGuard
from edge_controller.storage.sessions_store import SessionStart, SessionStore
from tests.outbox_events import announcing, ending


def remove_database(path: Path, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> None:
    """What `rm edge.db*` does (the hidden marker stays)."""
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def session(store: SessionStore, connector_id: str, at_s: float) -> None:
    start = SessionStart(connector_id, "TAG", at_s, 100, announce=announcing("cp", meter_wh=100))
    record = await store.start(start)
    await store.stop(
        record.local_id, at_s + 60, 1600, "Local", render=ending("cp", record.local_id)
    )


def rows(path: Path) -> list[tuple[str, int, int]]:
    """The sessions and queued messages in the file at ``path`` (another connection)."""
    conn = sqlite3.connect(path)
    try:
        sessions = conn.execute(
            "SELECT connector_id, meter_start_wh, meter_stop_wh FROM sessions ORDER BY local_id"
        ).fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return sessions
    finally:
        conn.close()


async def test_removed_database_is_put_back_with_sessions_before_and_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "edge.db"
    db = await Database.open(path)
    store, guard = SessionStore(db), StorageGuard(db)
    try:
        await session(store, "cp:1", 1000.0)
        assert await guard.check() is None and guard.alarm is None
        remove_database(path)
        await session(store, "cp:2", 2000.0)  # recorded while the file is gone: kept in memory
        found = await guard.check()
        assert found is not None and found.restored
        assert found.change == "edge.db was removed"
        assert guard.alarm is not None and "edge.db was removed" in guard.alarm
        assert "put back" in guard.alarm
        await session(store, "cp:3", 3000.0)  # after the restore: into the restored file
        assert await guard.check() is None
        assert guard.alarm is not None  # stays until restart: someone has to find out why
    finally:
        await db.close()
    expected = [("cp:1", 100, 1600), ("cp:2", 100, 1600), ("cp:3", 100, 1600)]
    assert rows(path) == expected
    reopened = await Database.open(path)  # a restart finds it whole
    await reopened.close()


async def test_a_replacing_file_is_set_aside_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    store, guard = SessionStore(db), StorageGuard(db)
    try:
        await session(store, "cp:1", 1000.0)
        remove_database(path)
        path.write_bytes(b"")  # e.g. `: > edge.db` after removing it, or a restored old copy
        found = await guard.check()
    finally:
        await db.close()
    assert found is not None and found.restored and found.change == "edge.db was replaced"
    (aside,) = found.set_aside
    assert aside.name.startswith("edge.db.replaced-") and aside.read_bytes() == b""
    assert rows(path) == [("cp:1", 100, 1600)]


async def test_a_removed_wal_alone_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    store, guard = SessionStore(db), StorageGuard(db)
    try:
        await session(store, "cp:1", 1000.0)  # lives in the -wal until a checkpoint
        remove_database(path, ("-wal",))
        found = await guard.check()
        assert found is not None and found.restored and found.change == "edge.db-wal was removed"
    finally:
        await db.close()
    assert rows(path) == [("cp:1", 100, 1600)]


async def test_a_failed_restore_keeps_the_alarm_and_is_retried(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = state / "edge.db"
    db = await Database.open(path)
    store, guard = SessionStore(db), StorageGuard(db)
    try:
        await session(store, "cp:1", 1000.0)
        for child in state.iterdir():
            child.unlink()
        state.rmdir()
        state.write_text("a file where the state directory was")
        found = await guard.check()
        assert found is not None and not found.restored and found.error
        assert guard.alarm is not None and "putting it back failed" in guard.alarm
        await session(store, "cp:2", 2000.0)  # the open connection still records
        state.unlink()
        found = await guard.check()
        assert found is not None and found.restored
        assert guard.alarm is not None and "put back" in guard.alarm
    finally:
        await db.close()
    assert [r[0] for r in rows(path)] == ["cp:1", "cp:2"]


async def test_writes_during_a_restore_wait_and_land_in_the_restored_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    store, guard = SessionStore(db), StorageGuard(db)
    try:
        remove_database(path)
        async with asyncio.TaskGroup() as group:
            for n in range(1, 21):
                group.create_task(session(store, f"cp:{n}", float(n)))
            group.create_task(guard.check())
    finally:
        await db.close()
    assert sorted(r[0] for r in rows(path)) == sorted(f"cp:{n}" for n in range(1, 21))
