"""Storage errors: every sqlite3 exception is translated here, once, at the storage boundary.

Errors at start-up say whether starting again can help: ``StateDirUnusable`` (the installation
must be fixed) and ``NeedsOperator`` (the data needs a person's decision) cannot; a full disk or
a database locked by another process may clear up on its own.
"""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """A database operation failed; nothing the caller asked for was recorded."""


class StorageFull(StorageError):
    """No space left for the database; starting again helps once space is freed."""


class StateDirUnusable(StorageError):
    """The state directory or the database file cannot be written: permissions, ownership or a
    read-only file system. Starting again cannot help until the installation is fixed."""


class NeedsOperator(StorageError):
    """The recorded data needs a person's decision; starting again cannot help."""


class DatabaseCorrupt(NeedsOperator):
    """The integrity check failed at start-up; a copy of the damaged file was preserved."""

    def __init__(
        self, path: Path, preserved_copy: Path | None, details: str, copy_problem: str = ""
    ) -> None:
        if preserved_copy is not None:
            kept = f"; a copy of the damaged files is kept at {preserved_copy}"
        else:
            kept = f"; no copy of the damaged files could be kept ({copy_problem})"
        super().__init__(
            f"database {path} failed its integrity check ({details}){kept}. Restore a backup"
            f" to {path}, or delete it and {marker_path(path).name} to start with an empty one"
        )
        self.path = path
        self.preserved_copy = preserved_copy
        self.details = details


class DatabaseMissing(NeedsOperator):
    """The database is gone or empty although this state directory held one (its marker)."""

    def __init__(self, path: Path, what: str) -> None:
        marker = marker_path(path)
        super().__init__(
            f"database {path} {what}, but this state directory held one ({marker} says so):"
            " the sessions and unsent messages recorded in it are not here. Put the database"
            f" back (a copy from `edge-controller backup`, or {path.name}.replaced-*), or delete"
            f" {marker} to start with an empty database on purpose"
        )
        self.path = path


class SchemaTooNew(NeedsOperator):
    """The database was written by a newer release; we never migrate backwards."""


def marker_path(database: Path) -> Path:
    """The file saying a database lived here (hidden, so ``rm edge.db*`` leaves it)."""
    return database.with_name(f".{database.name}.marker")
