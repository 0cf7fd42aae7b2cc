"""Online backups: a consistent copy of a live database, written atomically."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from edge_controller.storage.errors import StorageError
from edge_controller.storage.worker import SqliteWorker


def _temp_for(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.partial-{os.getpid()}")


def _finish(temp: Path, dest: Path) -> Path:
    check = sqlite3.connect(temp)
    try:
        result = check.execute("PRAGMA integrity_check").fetchone()
    finally:
        check.close()
    if result is None or result[0] != "ok":
        temp.unlink(missing_ok=True)
        raise StorageError(f"backup copy failed its integrity check: {result}")
    os.replace(temp, dest)
    return dest


async def backup_connection(worker: SqliteWorker, dest: Path) -> Path:
    """Copy the live database to ``dest``; writers wait only while pages are copied."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_for(dest)

    def copy(conn: sqlite3.Connection) -> None:
        target = sqlite3.connect(temp)
        try:
            conn.backup(target)
        finally:
            target.close()

    try:
        await worker.call(copy)
    except sqlite3.Error as exc:
        temp.unlink(missing_ok=True)
        raise StorageError(f"backup to {dest} failed: {exc}") from exc
    return await asyncio.to_thread(_finish, temp, dest)


def backup_file(source: Path, dest: Path) -> Path:
    """Copy the database file ``source`` (possibly in use by a running daemon) to ``dest``.

    Blocking; meant for the command line. WAL lets the daemon keep writing meanwhile.
    """
    if not source.exists():
        raise StorageError(f"no database at {source}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_for(dest)
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        target = sqlite3.connect(temp)
        try:
            src.execute("PRAGMA busy_timeout = 5000")
            src.backup(target)
        finally:
            target.close()
            src.close()
    except sqlite3.Error as exc:
        temp.unlink(missing_ok=True)
        raise StorageError(f"backup of {source} to {dest} failed: {exc}") from exc
    return _finish(temp, dest)
