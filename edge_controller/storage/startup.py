"""Blocking start-up work on the database file: integrity check, preserved copy, migrations.

Runs once, in a worker thread, before the asynchronous connection opens. A failure names its
real cause: a state directory that cannot be written, a full disk, a lock held by another
process, a missing database that existed before, or genuine damage (only then is a copy of the
files kept, once per damaged file).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

from edge_controller.log import get_logger
from edge_controller.storage.errors import (
    DatabaseCorrupt,
    DatabaseMissing,
    StateDirUnusable,
    StorageError,
    StorageFull,
    marker_path,
)
from edge_controller.storage.migrations import migrate, schema_version
from edge_controller.storage.outbox.journal import remove_journals

log = get_logger("storage")

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # FULL: every commit (sessions, meter values, outbox) survives power loss once it returns.
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)
_ACCESS_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR)
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_LOW_SPACE_BYTES = 1 << 20  # an I/O error with less free than this is a full disk
_MARKER_TEXT = (
    "edge-controller keeps its database {name} in this directory (first opened {at}).\n"
    "While this file exists, a missing or empty {name} stops the daemon instead of starting\n"
    "with an empty database. Delete this file only to start with an empty database on purpose.\n"
)


def apply_pragmas(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)


def _owner_and_mode(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return ""
    return f" (owner uid {st.st_uid}, mode {st.st_mode & 0o7777:04o})"


def _access_problem(path: Path) -> str | None:
    """Why ``path`` (the database) or its directory cannot be written, if it cannot."""
    directory = path.parent
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f"{directory} is on a read-only file system"
    except OSError:
        pass
    me = f"uid {os.geteuid()}"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"state directory {directory} is not writable by {me}{_owner_and_mode(directory)}"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"database {path} is not readable and writable by {me}{_owner_and_mode(path)}"
    return None


def _free_bytes(directory: Path) -> int | None:
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _unusable(path: Path, detail: str) -> StateDirUnusable:
    return StateDirUnusable(
        f"cannot use the database {path}: {detail}; fix the ownership, permissions or mount of"
        " the state directory (storage.state_dir; StateDirectory= in the systemd unit)"
    )


def _full(path: Path, exc: BaseException) -> StorageFull:
    free = _free_bytes(path.parent)
    left = f"{free:,} bytes free" if free is not None else "free space unknown"
    return StorageFull(
        f"no space left for the database {path} ({left}; {exc}); free some space on that"
        " file system and the daemon can start"
    )


def explain(exc: sqlite3.Error | OSError, path: Path) -> StorageError:
    """The real cause of a failure to open or write ``path``, as a one-line error."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    code = exc.errno if isinstance(exc, OSError) else None
    access = _access_problem(path)
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or (
        code in _ACCESS_ERRNOS
    ):
        return _unusable(path, access or str(exc))
    free = _free_bytes(path.parent)
    low = free is not None and free < _LOW_SPACE_BYTES
    if name == "SQLITE_FULL" or code in _FULL_ERRNOS or (low and name.startswith("SQLITE_IOERR")):
        return _full(path, exc)
    if access is not None:
        return _unusable(path, access)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StorageError(
            f"database {path} is locked by another process (a second edge-controller on the"
            f" same state directory?): {exc}"
        )
    if name.startswith("SQLITE_IOERR") or code == errno.EIO:
        return StorageError(f"I/O error on the database {path}: {exc} (check the disk)")
    return StorageError(f"cannot open database {path}: {exc}")


def _is_damage(exc: sqlite3.Error) -> bool:
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_size, sa.st_mtime_ns) == (sb.st_size, sb.st_mtime_ns)


def _preserve_copy(path: Path, at_s: float) -> tuple[Path | None, str]:
    """Copy the damaged files beside them once: a copy of the same file (same size and time,
    which ``copy2`` keeps) is not made again, and a copy cut short is removed."""
    stamped = re.compile(re.escape(path.name) + r"\.corrupt-\d{8}T\d{6}Z")
    for earlier in sorted(path.parent.glob(f"{path.name}.corrupt-*")):
        if stamped.fullmatch(earlier.name) and _same_file(earlier, path):
            return earlier, ""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at_s))
    copy = path.with_name(f"{path.name}.corrupt-{stamp}")
    sources = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
    sources += path.parent.glob(f"{path.name}-acks-*")  # acks not yet in the table
    done: list[Path] = []
    try:
        for source in (s for s in sources if s.exists()):
            target = copy.with_name(copy.name + source.name[len(path.name) :])
            partial = target.with_name(f".{target.name}.partial")
            shutil.copy2(source, partial)
            os.replace(partial, target)
            done.append(target)
    except OSError as exc:
        for leftover in [*done, *path.parent.glob(f".{copy.name}*.partial")]:
            leftover.unlink(missing_ok=True)
        return None, str(exc)
    return copy, ""


def _integrity_problem(conn: sqlite3.Connection) -> str | None:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    messages = [str(row[0]) for row in rows]
    return None if messages == ["ok"] else "; ".join(messages[:5])


def _check_directory(path: Path) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in (directory, *directory.parents) if p.exists())
        raise _unusable(path, f"{blocker} is a file, not a directory") from None
    except OSError as exc:
        raise explain(exc, path) from exc
    if not directory.is_dir():
        raise _unusable(path, f"{directory} is not a directory")
    problem = _access_problem(path)
    if problem is not None:
        raise _unusable(path, problem)


def _check_marker(path: Path) -> None:
    if not marker_path(path).exists():
        return
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DatabaseMissing(path, "is missing") from None
    if size == 0:
        raise DatabaseMissing(path, "is empty (0 bytes)")


def write_marker(path: Path, at_s: float) -> None:
    marker = marker_path(path)
    if marker.exists():
        return
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at_s))
    try:
        marker.write_text(_MARKER_TEXT.format(name=path.name, at=stamp), encoding="utf-8")
    except OSError as exc:
        raise explain(exc, path) from exc


def _open_checked(path: Path, now_s: float) -> sqlite3.Connection:
    """A connection to ``path`` that passed the integrity check (DatabaseCorrupt if not)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        apply_pragmas(conn)
        problem = _integrity_problem(conn)
    except sqlite3.Error as exc:
        if not _is_damage(exc):
            conn.close()
            raise
        problem = str(exc)
    if problem is not None:
        conn.close()
        copy, copy_problem = _preserve_copy(path, now_s)
        raise DatabaseCorrupt(path, copy, problem, copy_problem)
    return conn


def prepare(path: Path, now_s: float) -> int:
    """Check and migrate the database at ``path`` (created if missing); returns its version.

    Raises DatabaseCorrupt, after keeping a copy of the damaged files next to them, when the
    file is not a database or fails ``PRAGMA integrity_check``; DatabaseMissing when it is gone
    or empty but this directory held one; StateDirUnusable, StorageFull or StorageError naming
    the cause for anything else.
    """
    _check_directory(path)
    _check_marker(path)
    try:
        conn = _open_checked(path, now_s)
        try:
            if schema_version(conn) == 0:
                # A new database: acks journaled for a database that was here before are not ours.
                for stale in remove_journals(path):
                    log.warning("ack journal of a previous database removed", path=str(stale))
            version = migrate(conn)
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        raise explain(exc, path) from exc
    write_marker(path, now_s)
    return version
