"""Connector reservations, so they survive a restart (one row per reservation).

A specific-connector reservation's row key is its connector id (one per connector). Several
connector-0 reservations of one identity share the connector id ``"<identity>:0"``, so their row
key carries the reservation id too (``"<identity>:0#<id>"``); the schema stays as it is.
"""

from __future__ import annotations

import sqlite3

from edge_controller.domain.sessions.reservations import Reservation
from edge_controller.storage.database import Database

_ANY_MARK = "#"


def _row_key(reservation: Reservation) -> str:
    if reservation.any_connector:
        return f"{reservation.connector_id}{_ANY_MARK}{reservation.reservation_id}"
    return reservation.connector_id


def _connector_of(row_key: str) -> str:
    connector_id, mark, _ = row_key.rpartition(_ANY_MARK)
    return connector_id if mark and connector_id.endswith(":0") else row_key


class ReservationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[Reservation]:
        def job(conn: sqlite3.Connection) -> list[Reservation]:
            cursor = conn.execute(
                "SELECT reservation_id, connector_id, id_tag, expiry_at_s, parent_id_tag"
                " FROM reservations ORDER BY reservation_id"
            )
            return [
                Reservation(rid, _connector_of(key), tag, expiry_at_s, parent)
                for rid, key, tag, expiry_at_s, parent in cursor.fetchall()
            ]

        return await self._db.read(job)

    async def put(self, reservation: Reservation, now_s: float) -> None:
        """Store ``reservation``, replacing any with its id or on its connector."""
        r, key = reservation, _row_key(reservation)

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM reservations WHERE reservation_id = ? OR connector_id = ?",
                (r.reservation_id, key),
            )
            conn.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?)",
                (r.reservation_id, key, r.id_tag, r.parent_id_tag, r.expiry_at_s, now_s),
            )

        await self._db.write(job)

    async def remove(self, reservation_id: int) -> bool:
        """Delete one reservation; False when there was none with that id."""

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,)
            )
            return cursor.rowcount > 0

        return await self._db.write(job)
