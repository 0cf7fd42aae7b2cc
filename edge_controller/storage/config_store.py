"""Persisted uplink configuration values (key/value) and connector availability."""

from __future__ import annotations

import sqlite3

from edge_controller.storage.database import Database


class ConfigStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_value(self, key: str, value: str, now_s: float) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO config_values VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " value = excluded.value, updated_at_s = excluded.updated_at_s",
                (key, value, now_s),
            )

        await self._db.write(job)

    async def value(self, key: str) -> str | None:
        def job(conn: sqlite3.Connection) -> str | None:
            cursor = conn.execute("SELECT value FROM config_values WHERE key = ?", (key,))
            row = cursor.fetchone()
            return None if row is None else str(row[0])

        return await self._db.read(job)

    async def values(self) -> dict[str, str]:
        def job(conn: sqlite3.Connection) -> dict[str, str]:
            cursor = conn.execute("SELECT key, value FROM config_values ORDER BY key")
            return {str(k): str(v) for k, v in cursor.fetchall()}

        return await self._db.read(job)

    async def set_available(self, connector_id: str, available: bool, now_s: float) -> None:
        """Persist ChangeAvailability / maintenance state so it survives a restart."""

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO connector_availability VALUES (?, ?, ?) ON CONFLICT(connector_id)"
                " DO UPDATE SET available = excluded.available,"
                " updated_at_s = excluded.updated_at_s",
                (connector_id, int(available), now_s),
            )

        await self._db.write(job)

    async def availability(self) -> dict[str, bool]:
        """Connectors with a persisted availability (absent ones are available)."""

        def job(conn: sqlite3.Connection) -> dict[str, bool]:
            cursor = conn.execute("SELECT connector_id, available FROM connector_availability")
            return {str(c): bool(a) for c, a in cursor.fetchall()}

        return await self._db.read(job)
