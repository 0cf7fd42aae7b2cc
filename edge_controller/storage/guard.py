"""Guards the database file while the daemon runs: removed, replaced or emptied under it, it is
noticed within seconds, said loudly and put back from the connection that still holds it.

SQLite keeps writing to a file that was deleted while open (the descriptors stay valid), so a
database removed at runtime loses nothing until the process ends, and then everything. The
guard compares the files at the database's path with the ones the connection opened (device and
inode of the database, its ``-wal`` and ``-shm``); on a difference it copies the open database
with SQLite's backup API to a new file beside the path, checks it, sets aside whatever now sits
at the path, moves the copy into place and reopens the connection on it. Jobs wait meanwhile on
the database thread; none is lost.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edge_controller.log import get_logger

log = get_logger("storage")

SUFFIXES = ("", "-wal", "-shm")
FileIds = dict[str, tuple[int, int] | None]  # suffix → (device, inode), None: no such file


@dataclass(frozen=True)
class FileCheck:
    """What the guard found: ``change`` happened; ``error`` is why it could not be restored."""

    change: str
    restored: bool
    error: str | None = None
    set_aside: tuple[Path, ...] = ()


def file_ids(path: Path) -> FileIds:
    ids: FileIds = {}
    for suffix in SUFFIXES:
        try:
            st = os.stat(f"{path}{suffix}")
        except (FileNotFoundError, NotADirectoryError):
            ids[suffix] = None
        else:
            ids[suffix] = (st.st_dev, st.st_ino)
    return ids


def change_of(path: Path, known: FileIds) -> str | None:
    """How the files at ``path`` differ from those opened (``known``), or None."""
    now = file_ids(path)
    for suffix in SUFFIXES:
        name = f"{path.name}{suffix}"
        if known.get(suffix) is None or now[suffix] == known[suffix]:
            continue
        return f"{name} was removed" if now[suffix] is None else f"{name} was replaced"
    try:
        if path.stat().st_size == 0:
            return f"{path.name} was emptied"
    except OSError:
        pass
    return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_of(conn: sqlite3.Connection, path: Path) -> Path:
    """The open database, copied to a checked file beside ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.restore-{os.getpid()}")
    temp.unlink(missing_ok=True)
    target = sqlite3.connect(temp)
    try:
        conn.backup(target)
        result = target.execute("PRAGMA integrity_check").fetchone()
    finally:
        target.close()
    if result is None or result[0] != "ok":
        temp.unlink(missing_ok=True)
        raise sqlite3.DatabaseError(f"the copy fails its integrity check: {result}")
    _fsync(temp)
    return temp


def _set_aside(path: Path, known: FileIds, at_s: float) -> tuple[Path, ...]:
    """Move files at ``path`` that are not ours out of the way (kept, never deleted)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at_s))
    moved = []
    now = file_ids(path)
    for suffix in SUFFIXES:
        if now[suffix] is None or now[suffix] == known.get(suffix):
            continue
        source = Path(f"{path}{suffix}")
        target = path.with_name(f"{path.name}.replaced-{stamp}{suffix}")
        os.replace(source, target)
        moved.append(target)
    return tuple(moved)


def restore(
    conn: sqlite3.Connection,
    path: Path,
    known: FileIds,
    setup: Callable[[sqlite3.Connection], None],
    at_s: float,
) -> tuple[sqlite3.Connection, tuple[Path, ...]]:
    """On the database thread: put the open database back at ``path``; returns the connection
    on the restored file and the files set aside. Raises, with ``conn`` still open and in use,
    when the copy cannot be made or moved into place."""
    temp = _copy_of(conn, path)
    try:
        moved = _set_aside(path, known, at_s)
        os.replace(temp, path)
        _fsync(path.parent)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    # The old connection still holds the old files; closing it also removes a -wal of ours
    # left at the path, which must not be read as the copy's.
    conn.close()
    fresh = sqlite3.connect(path, isolation_level=None)
    fresh.row_factory = conn.row_factory
    setup(fresh)
    return fresh, moved


class Guarded(Protocol):
    """What the guard needs of a Database."""

    path: Path

    async def verify_files(self, at_s: float) -> FileCheck | None: ...


class StorageGuard:
    """Checks the database files every ``interval_s``; ``alarm`` says what happened, for the
    status view and MQTT. The alarm stays until the daemon restarts: someone removed the
    database of a running daemon, and the operator needs to find out who."""

    def __init__(
        self,
        db: Guarded,
        *,
        interval_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db, self._interval_s, self._clock = db, interval_s, clock
        self.alarm: str | None = None
        self._last_error: str | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check()

    async def check(self) -> FileCheck | None:
        at_s = self._clock()
        found = await self._db.verify_files(at_s)
        if found is None:
            return None
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at_s))
        where = str(self._db.path)
        if found.restored:
            self._last_error = None
            self.alarm = (
                f"{found.change} at {stamp}; the database was put back from the running"
                " daemon's open copy: find out what removed it"
            )
            log.critical(
                "database file changed under the daemon; restored from the open connection",
                change=found.change,
                path=where,
                set_aside=[str(p) for p in found.set_aside],
            )
        else:
            self.alarm = (
                f"{found.change} at {stamp}; putting it back failed ({found.error}): what is"
                " recorded now is kept only while the daemon runs"
            )
            if found.error != self._last_error:  # once per cause, not every interval
                log.critical(
                    "database file changed under the daemon; cannot restore it",
                    change=found.change,
                    path=where,
                    error=found.error,
                )
            self._last_error = found.error
        return found
