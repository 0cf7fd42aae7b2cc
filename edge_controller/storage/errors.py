"""Storage errors: every sqlite3 exception is translated here, once, at the storage boundary."""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """A database operation failed; nothing the caller asked for was recorded."""


class DatabaseCorrupt(StorageError):
    """The integrity check failed at start-up; a copy of the damaged file was preserved."""

    def __init__(self, path: Path, preserved_copy: Path | None, details: str) -> None:
        copy_text = f"; a copy was kept at {preserved_copy}" if preserved_copy else ""
        super().__init__(f"database {path} failed its integrity check ({details}){copy_text}")
        self.path = path
        self.preserved_copy = preserved_copy
        self.details = details


class SchemaTooNew(StorageError):
    """The database was written by a newer release; we never migrate backwards."""
