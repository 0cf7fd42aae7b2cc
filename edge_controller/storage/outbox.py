"""The durable uplink outbox: every message the CSMS must receive, in order, exactly once.

Usage by a sender, per uplink identity::

    msg = await outbox.peek(identity)        # oldest pending message, or None
    ... send msg.action / msg.payload (+ msg.remote_transaction_id as "transactionId") ...
    await outbox.ack(msg.seq)                # on a CALLRESULT
    await outbox.record_failure(msg.seq, e)  # on a timeout / lost connection: retry later
    await outbox.park(msg.seq, e)            # on a CALLERROR that retrying will not fix

``append`` returns only after the message is durable. Parked messages are kept (with the
reason) and can be re-queued; they are never silently dropped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from edge_controller.log import get_logger
from edge_controller.storage.database import Database
from edge_controller.storage.outbox_capacity import (
    DEFAULT_CAPACITY,
    DEFAULT_WARN_FRACTION,
    CapacityWatch,
    OutboxStats,
    count_pending,
    read_counter,
)
from edge_controller.storage.outbox_rows import (
    SELECT_MESSAGE,
    MessageKind,
    OutboxMessage,
    append_in,
    message_from_row,
)

log = get_logger("storage.outbox")
_MAX_ERROR_CHARS = 500


class Outbox:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        capacity: int = DEFAULT_CAPACITY,
        warn_fraction: float = DEFAULT_WARN_FRACTION,
    ) -> None:
        self._db = db
        self._clock = clock
        self.capacity = CapacityWatch(capacity, warn_fraction)

    async def append(
        self,
        identity: str,
        action: str,
        payload: dict[str, Any],
        *,
        session_local_id: int | None = None,
        kind: MessageKind = "other",
    ) -> int:
        """Queue ``action`` for ``identity``; durable when it returns. Returns the sequence."""
        now_s = self._clock()

        def job(conn: sqlite3.Connection) -> int:
            seq = append_in(
                conn, identity, action, payload,
                now_s=now_s, kind=kind, session_local_id=session_local_id,
            )  # fmt: skip
            if self.capacity.due():
                self.capacity.check(conn)
            return seq

        return await self._db.write(job)

    async def peek(self, identity: str) -> OutboxMessage | None:
        """The oldest message of ``identity`` neither acked nor parked."""

        def job(conn: sqlite3.Connection) -> OutboxMessage | None:
            cursor = conn.execute(
                SELECT_MESSAGE + " WHERE o.identity = ? AND o.state = 'pending'"
                " ORDER BY o.seq LIMIT 1",
                (identity,),
            )
            row = cursor.fetchone()
            return None if row is None else message_from_row(row)

        return await self._db.read(job)

    async def ack(self, seq: int) -> bool:
        """The CSMS confirmed ``seq``; it will not be sent again.

        Idempotent: returns False when ``seq`` was already acked (or pruned).
        """
        now_s = self._clock()

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE outbox SET state = 'acked', done_at_s = ?"
                " WHERE seq = ? AND state != 'acked'",
                (now_s, seq),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)

    async def park(self, seq: int, error: str) -> None:
        """Set ``seq`` aside (kept, with ``error``) so the messages behind it can flow."""
        log.warning("outbox message parked", seq=seq, error=error[:_MAX_ERROR_CHARS])
        await self._set_state(seq, "parked", error)

    async def requeue(self, seq: int) -> None:
        """Put a parked message back in line (at its original position)."""
        await self._set_state(seq, "pending", None, only_from="parked")

    async def record_failure(self, seq: int, error: str) -> int:
        """Count a failed attempt (the message stays first in line); returns the attempts."""
        now_s = self._clock()

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?,"
                " last_attempt_at_s = ? WHERE seq = ? RETURNING attempts",
                (error[:_MAX_ERROR_CHARS], now_s, seq),
            )
            row = cursor.fetchone()
            if row is None:
                raise KeyError(f"no outbox message {seq}")
            return int(row[0])

        return await self._db.write(job)

    async def backlog(self, identity: str | None = None) -> int:
        """Pending messages (all identities when ``identity`` is None)."""
        return await self._db.read(lambda conn: count_pending(conn, identity))

    async def identities(self) -> list[str]:
        """Identities that have pending messages."""

        def job(conn: sqlite3.Connection) -> list[str]:
            cursor = conn.execute(
                "SELECT DISTINCT identity FROM outbox WHERE state = 'pending' ORDER BY identity"
            )
            return [str(row[0]) for row in cursor.fetchall()]

        return await self._db.read(job)

    async def parked(self, identity: str | None = None, limit: int = 100) -> list[OutboxMessage]:
        def job(conn: sqlite3.Connection) -> list[OutboxMessage]:
            where = " WHERE o.state = 'parked'" + (" AND o.identity = ?" if identity else "")
            params: tuple[Any, ...] = (identity, limit) if identity else (limit,)
            cursor = conn.execute(SELECT_MESSAGE + where + " ORDER BY o.seq LIMIT ?", params)
            return [message_from_row(row) for row in cursor.fetchall()]

        return await self._db.read(job)

    async def prune(self, older_than_s: float) -> int:
        """Delete acked messages acknowledged more than ``older_than_s`` ago; returns count."""
        cutoff_s = self._clock() - older_than_s

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM outbox WHERE state = 'acked' AND done_at_s < ?", (cutoff_s,)
            )
            return max(cursor.rowcount, 0)

        return await self._db.write(job)

    async def set_remote_transaction_id(self, session_local_id: int, remote_id: int) -> None:
        """Remember the CSMS transaction id of a local session (from StartTransaction.conf)."""

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO transaction_ids (session_local_id, remote_transaction_id)"
                " VALUES (?, ?) ON CONFLICT(session_local_id)"
                " DO UPDATE SET remote_transaction_id = excluded.remote_transaction_id",
                (session_local_id, remote_id),
            )

        await self._db.write(job)

    async def remote_transaction_id(self, session_local_id: int) -> int | None:
        def job(conn: sqlite3.Connection) -> int | None:
            cursor = conn.execute(
                "SELECT remote_transaction_id FROM transaction_ids WHERE session_local_id = ?",
                (session_local_id,),
            )
            row = cursor.fetchone()
            return None if row is None else int(row[0])

        return await self._db.read(job)

    async def stats(self) -> OutboxStats:
        def job(conn: sqlite3.Connection) -> OutboxStats:
            pending = count_pending(conn)
            cursor = conn.execute("SELECT count(*) FROM outbox WHERE state = 'parked'")
            row = cursor.fetchone()
            self.capacity.observe(pending)
            return OutboxStats(
                pending=pending,
                parked=int(row[0]) if row else 0,
                thinned=read_counter(conn, "thinned"),
                capacity=self.capacity.capacity,
                near_capacity=self.capacity.near_capacity,
            )

        return await self._db.read(job)

    async def _set_state(
        self, seq: int, state: str, error: str | None, only_from: str = "pending"
    ) -> None:
        now_s = self._clock()

        def job(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE outbox SET state = ?, done_at_s = ?,"
                " last_error = coalesce(?, last_error) WHERE seq = ? AND state = ?",
                (state, now_s, None if error is None else error[:_MAX_ERROR_CHARS], seq, only_from),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no {only_from} outbox message {seq}")

        await self._db.write(job)
