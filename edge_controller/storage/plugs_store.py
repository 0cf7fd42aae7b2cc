"""Transactions begun before their session: at a plug-in, before any authorisation (OCPP 2.x
TxStartPoint EVConnected), or at an authorisation, before the plug-in (TxStartPoint
Authorized); each change commits with its outbox event.

A session's transaction can also go on after it (TxStopPoint EVConnected or Authorized alone):
its row opens again with the session's stop, in the same commit, and is closed by its end.

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
from typing import Any

from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    EvConnected,
    EvWaitEnded,
    SessionRegisters,
)
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
    # Going on after its session: that session's registers and id tag (None: no session yet).
    session: SessionRegisters | None = None
    id_tag: str | None = None


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


def go_on_in(conn: sqlite3.Connection, local_id: int, connector_id: str, at_s: float) -> None:
    """The transaction of the session ``local_id``, stopped at ``at_s``, goes on after it (the
    caller's commit): open until its own end."""
    conn.execute(
        "INSERT INTO plug_transactions (local_id, connector_id, plugged_at_s, after_session,"
        " identity) VALUES (?, ?, ?, 1, ?) ON CONFLICT (local_id) DO UPDATE SET"
        " closed_at_s = NULL, after_session = 1, identity = excluded.identity",
        (local_id, connector_id, at_s, _first_identity(conn, local_id)),
    )


def _first_identity(conn: sqlite3.Connection, local_id: int) -> str | None:
    """Where the transaction's events went (its session's, queued in this commit)."""
    row = conn.execute(
        "SELECT identity FROM outbox WHERE session_local_id = ? ORDER BY seq LIMIT 1",
        (local_id,),
    ).fetchone()
    return None if row is None else str(row[0])


_OPEN = (
    "SELECT p.local_id, p.connector_id, p.plugged_at_s, p.authorized, p.after_session,"
    " s.start_at_s, s.meter_start_wh, s.stop_at_s, s.meter_stop_wh, s.id_tag"
    " FROM plug_transactions p LEFT JOIN sessions s ON s.local_id = p.local_id"
    " WHERE p.closed_at_s IS NULL ORDER BY p.local_id"
)


def _open_plug(r: tuple[Any, ...]) -> OpenPlug:
    local_id, cid, plugged_at_s, authorized = int(r[0]), str(r[1]), float(r[2]), bool(r[3])
    if not r[4] or r[7] is None:
        return OpenPlug(local_id, cid, plugged_at_s, authorized)
    registers = SessionRegisters(float(r[5]), int(r[6]), float(r[7]), int(r[8]))
    return OpenPlug(local_id, cid, plugged_at_s, authorized, registers, str(r[9]))


class PlugStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(self, identity: str, first: First) -> int:
        """Start a transaction before its session and queue its first event; its local id."""

        def job(conn: sqlite3.Connection) -> int:
            local_id = _next_local_id(conn)
            event = first(local_id)
            conn.execute(
                "INSERT INTO plug_transactions (local_id, connector_id, plugged_at_s,"
                " authorized, identity) VALUES (?, ?, ?, ?, ?)",
                (local_id, event.connector_id, event.at_s, isinstance(event, AuthorizedFirst),
                 identity),
            )  # fmt: skip
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
            return [_open_plug(r) for r in conn.execute(_OPEN).fetchall()]

        return await self._db.read(job)

    async def identity_of(self, local_id: int) -> str | None:
        """The identity the transaction's events went to: kept with it, or (opened before
        it was kept) found from its events still in the outbox (None: none is)."""

        def job(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT identity FROM plug_transactions WHERE local_id = ?", (local_id,)
            ).fetchone()
            if row is not None and row[0] is not None:
                return str(row[0])
            return _first_identity(conn, local_id)

        return await self._db.read(job)
