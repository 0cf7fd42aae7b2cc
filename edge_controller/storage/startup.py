"""Blocking start-up work on the database file: integrity check, preserved copy, migrations.

Runs once, in a worker thread, before the asynchronous connection opens.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from edge_controller.log import get_logger
from edge_controller.storage.errors import DatabaseCorrupt
from edge_controller.storage.migrations import migrate, schema_version
from edge_controller.storage.outbox_journal import remove_journals

log = get_logger("storage")

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # FULL: every commit (sessions, meter values, outbox) survives power loss once it returns.
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)


def apply_pragmas(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)


def _preserve_copy(path: Path, at_s: float) -> Path | None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at_s))
    copy = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        sources = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
        sources += path.parent.glob(f"{path.name}-acks-*")  # acks not yet in the table
        for source in sources:
            if source.exists():
                shutil.copy2(source, copy.with_name(copy.name + source.name[len(path.name) :]))
    except OSError:
        return None
    return copy


def _integrity_problem(conn: sqlite3.Connection) -> str | None:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    messages = [str(row[0]) for row in rows]
    return None if messages == ["ok"] else "; ".join(messages[:5])


def prepare(path: Path, now_s: float) -> int:
    """Check and migrate the database at ``path`` (created if missing); returns its version.

    Raises DatabaseCorrupt, after keeping a copy of the damaged files next to them, when the
    file is not a database or fails ``PRAGMA integrity_check``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        try:
            apply_pragmas(conn)
            problem = _integrity_problem(conn)
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem is not None:
            conn.close()
            raise DatabaseCorrupt(path, _preserve_copy(path, now_s), problem)
        if schema_version(conn) == 0:
            # A new database: acks journaled for a database that was here before are not ours.
            for stale in remove_journals(path):
                log.warning("ack journal of a previous database removed", path=str(stale))
        return migrate(conn)
    finally:
        conn.close()
