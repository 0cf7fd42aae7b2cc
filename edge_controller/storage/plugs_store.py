"""Transactions begun before their session: at a plug-in, before any authorisation (OCPP 2.x
TxStartPoint EVConnected), or at an authorisation, before the plug-in (TxStartPoint
Authorized); each change commits with its outbox event.

Such a transaction takes a local id from the sessions' own numbering (``sqlite_sequence``, as
AUTOINCREMENT does), so the session that joins it once authorised is recorded under the same id
and the outbox counts the events of both as one transaction (``session_position``: seqNo). It
stays open in ``plug_transactions`` until a session joins it or it ends unjoined, so a restart
finds it again and neither starts it twice nor leaves it without its end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from edge_controller.domain.sessions.events import AuthorizedFirst, EvConnected, EvWaitEnded
from edge_controller.storage.database import Database
from edge_controller.storage.outbox.rows import append_in

First = Callable[[int], EvConnected | AuthorizedFirst]
"""The event that starts such a transaction, given the local id it takes."""


@dataclass(frozen=True, slots=True)
class OpenPlug:
    local_id: int
    connector_id: str
    plugged_at_s: float
    authorized: bool = False  # begun at an authorisation (else at a plug-in)


def _next_local_id(conn: sqlite3.Connection) -> int:
    """A sessions local id nobody has had: AUTOINCREMENT never hands it out after this."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'sessions'").fetchone()
    taken = conn.execute("SELECT max(local_id) FROM plug_transactions").fetchone()[0]
    local_id = max(0 if row is None else int(row[0]), int(taken or 0)) + 1
    if row is None:
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('sessions', ?)", (local_id,))
    else:
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'sessions'", (local_id,))
    return local_id


def join_in(conn: sqlite3.Connection, local_id: int, at_s: float) -> None:
    """The session recorded under ``local_id`` joined its plug-in transaction (the caller's
    commit)."""
    conn.execute(
        "UPDATE plug_transactions SET closed_at_s = ? WHERE local_id = ? AND closed_at_s IS NULL",
        (at_s, local_id),
    )


class PlugStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(self, identity: str, first: First) -> int:
        """Start a transaction before its session and queue its first event; its local id."""

        def job(conn: sqlite3.Connection) -> int:
            local_id = _next_local_id(conn)
            event = first(local_id)
            conn.execute(
                "INSERT INTO plug_transactions (local_id, connector_id, plugged_at_s, authorized)"
                " VALUES (?, ?, ?, ?)",
                (local_id, event.connector_id, event.at_s, isinstance(event, AuthorizedFirst)),
            )
            append_in(conn, identity, event, now_s=event.at_s)
            return local_id

        return await self._db.write(job)

    async def end(self, identity: str | None, event: EvWaitEnded) -> bool:
        """End a transaction no session joined, with its ``EvWaitEnded`` (None: no uplink
        takes it); False when it had ended or been joined already (nothing queued then)."""

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE plug_transactions SET closed_at_s = ?"
                " WHERE local_id = ? AND closed_at_s IS NULL",
                (event.at_s, event.session_local_id),
            )
            if cursor.rowcount != 1:
                return False
            if identity:
                append_in(conn, identity, event, now_s=event.at_s)
            return True

        return await self._db.write(job)

    async def open_ones(self) -> list[OpenPlug]:
        """Plug-in transactions neither joined nor ended (a crash came between)."""

        def job(conn: sqlite3.Connection) -> list[OpenPlug]:
            rows = conn.execute(
                "SELECT local_id, connector_id, plugged_at_s, authorized FROM plug_transactions"
                " WHERE closed_at_s IS NULL ORDER BY local_id"
            ).fetchall()
            return [OpenPlug(int(r[0]), str(r[1]), float(r[2]), bool(r[3])) for r in rows]

        return await self._db.read(job)
