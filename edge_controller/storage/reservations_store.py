"""Connector reservations, so they survive a restart (one row per reserved connector)."""

from __future__ import annotations

import sqlite3

from edge_controller.domain.reservations import Reservation
from edge_controller.storage.database import Database


class ReservationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[Reservation]:
        def job(conn: sqlite3.Connection) -> list[Reservation]:
            cursor = conn.execute(
                "SELECT reservation_id, connector_id, id_tag, expiry_at_s, parent_id_tag"
                " FROM reservations ORDER BY reservation_id"
            )
            return [Reservation(*row) for row in cursor.fetchall()]

        return await self._db.read(job)

    async def put(self, reservation: Reservation, now_s: float) -> None:
        """Store ``reservation``, replacing any with its id or on its connector."""
        r = reservation

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM reservations WHERE reservation_id = ? OR connector_id = ?",
                (r.reservation_id, r.connector_id),
            )
            conn.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?)",
                (r.reservation_id, r.connector_id, r.id_tag, r.parent_id_tag, r.expiry_at_s,
                 now_s),
            )  # fmt: skip

        await self._db.write(job)

    async def remove(self, reservation_id: int) -> bool:
        """Delete one reservation; False when there was none with that id."""

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,)
            )
            return cursor.rowcount > 0

        return await self._db.write(job)
