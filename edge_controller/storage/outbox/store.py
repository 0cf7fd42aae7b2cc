"""The durable uplink outbox: every event the CSMS must hear of, in order, exactly once.

It holds what happened (``domain.sessions.events``, stored in our own versioned JSON,
``codec``), never a protocol message: the uplink renders each event for its connection when
it sends it. Usage by a sender, per uplink identity::

    msg = await outbox.peek(identity)        # oldest pending event, or None
    ... render msg.event, send it (with msg.remote_transaction_id) ...
    await outbox.ack(msg.seq)                # on a CALLRESULT
    await outbox.ack_many([...], remote_ids={local_id: transaction_id})  # one commit
    outbox.journal_acks(identity, [msg.seq])  # durable against a crash, no commit: fast
    await outbox.ack_many([], journal=identity)  # marks journaled acks in the table
    await outbox.record_failure(msg.seq, e)  # on a timeout / lost connection: retry later
    await outbox.park(msg.seq, e)            # on a CALLERROR that retrying will not fix
    later = await outbox.peek_many(identity, after_seq=msg.seq, limit=64)  # read ahead

``append`` returns only after the event is durable. Parked events are kept (with the
reason) and can be re-queued; they are never silently dropped.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from edge_controller.domain.sessions.events import MeterSampled, OutboxEvent
from edge_controller.log import get_logger
from edge_controller.storage.outbox.capacity import (
    DEFAULT_CAPACITY,
    DEFAULT_WARN_FRACTION,
    CapacityWatch,
    OutboxStats,
    count_parked,
    count_pending,
    read_counter,
)
from edge_controller.storage.outbox.journal import AckJournal, journal_path
from edge_controller.storage.outbox.queued import queued
from edge_controller.storage.outbox.rows import (
    SELECT_MESSAGE,
    OutboxMessage,
    ack_in,
    append_in,
    message_from_row,
    select_pending,
    upsert_transaction_id,
)

if TYPE_CHECKING:  # the database's start-up imports this package (journals)
    from edge_controller.storage.database import Database

T = TypeVar("T")
log = get_logger("storage.outbox")
_MAX_ERROR_CHARS = 500
# Sessions whose CSMS transaction id is kept in memory: more than run at once on a large site.
REMOTE_IDS_KEPT = 4096


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
        self._journals: dict[str, AckJournal] = {}
        self._journal_locks: dict[str, asyncio.Lock] = {}
        # Session local id -> CSMS transaction id (None: none yet), as last read or written
        # here; the database stays the truth (read again after a restart). Every write of an
        # id goes through this object, so a kept None stays right until one does.
        self._remote_ids: dict[int, int | None] = {}
        self._remote_writes = 0  # ids written so far: a read that overlapped one is not kept

    def on_queued(self, listener: Callable[[Collection[str]], None]) -> None:
        """Call ``listener`` after each commit that put rows in line (appended by anyone
        on this database, or re-queued) with the identities they are for."""
        self._db.queued_listeners.append(listener)

    async def append(self, identity: str, event: OutboxEvent) -> int:
        """Queue ``event`` for ``identity``; durable when it returns. Returns the sequence."""
        now_s = self._clock()

        def job(conn: sqlite3.Connection) -> int:
            seq = append_in(conn, identity, event, now_s=now_s)
            if self.capacity.due():
                self.capacity.check(conn)
            return seq

        return await self._db.write(job)

    async def append_while_open(self, identity: str, event: MeterSampled) -> bool:
        """Queue a sample of a transaction no session runs in only while it is still open in
        ``plug_transactions``, checked in the same commit: its end (or the session joining
        it) may have been committed since its id was read. False: nothing queued."""
        now_s = self._clock()

        def job(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM plug_transactions WHERE local_id = ? AND closed_at_s IS NULL",
                (event.session_local_id,),
            ).fetchone()
            if row is None:
                return False
            append_in(conn, identity, event, now_s=now_s)
            return True

        return await self._db.write(job)

    async def peek(self, identity: str, after_seq: int | None = None) -> OutboxMessage | None:
        """The oldest message of ``identity`` neither acked nor parked (after ``after_seq``)."""
        found = await self.peek_many(identity, after_seq=after_seq, limit=1)
        return found[0] if found else None

    async def peek_many(
        self, identity: str, *, after_seq: int | None = None, limit: int = 1
    ) -> list[OutboxMessage]:
        """Up to ``limit`` pending messages of ``identity`` in order, all with seq > ``after_seq``.

        Lets a sender read ahead while a message is in flight. Rows read ahead carry the remote
        transaction id known at read time: read again after recording a new one. Reading from
        the start of the line first marks the acks journaled for ``identity`` in the table.
        """
        journal = self._journal(identity)
        if after_seq is None and (journal.seqs or journal.recovered):
            await self.ack_many([], journal=identity)
        return await self._db.read(lambda conn: select_pending(conn, identity, after_seq, limit))

    async def ack(self, seq: int) -> bool:
        """The CSMS confirmed ``seq``; it will not be sent again.

        Idempotent: returns False when ``seq`` was already acked (or pruned).
        """
        now_s = self._clock()
        return await self._db.write(lambda conn: ack_in(conn, [seq], now_s) == 1)

    async def ack_many(
        self,
        seqs: Sequence[int],
        *,
        remote_ids: Mapping[int, int] | None = None,
        journal: str | None = None,
        power_safe: bool = True,
    ) -> int:
        """Ack ``seqs`` and record ``remote_ids`` (session local id -> CSMS transaction id) in
        one transaction: durable together, or not at all. Returns how many were newly acked.
        With ``journal``, the acks journaled for that identity are marked too (and forgotten).

        Plain acks survive the process being killed but not a power loss: losing one only means
        the CSMS gets a message it has again (at-least-once, as OCPP allows), and skipping the
        fsync lets a sender write each ack before its next CALL. A transaction id the CSMS gave
        is a session fact: that commit stays FULL. ``power_safe`` False: the ids are the
        station's own (2.x), made again from the session, so NORMAL will do."""
        full = bool(remote_ids) and power_safe
        if journal is None:
            return await self._remembering(remote_ids, self._ack_many(seqs, remote_ids, None, full))
        async with self._journal_locks.setdefault(journal, asyncio.Lock()):
            pending = self._journal(journal)
            return await self._remembering(
                remote_ids, self._ack_many(seqs, remote_ids, pending, full)
            )

    async def _remembering(self, remote_ids: Mapping[int, int] | None, write: Awaitable[T]) -> T:
        """Await ``write``, which records ``remote_ids``; they are kept once it committed."""
        if not remote_ids:
            return await write
        self._remote_writes += 1
        try:
            result = await write
        except BaseException:
            for local_id in remote_ids:  # may or may not have committed: read it again
                self._remote_ids.pop(local_id, None)
            raise
        finally:
            self._remote_writes += 1  # a read that overlapped the write is not kept
        for local_id, remote_id in remote_ids.items():
            self._keep_remote_id(local_id, remote_id)
        return result

    def _keep_remote_id(self, local_id: int, remote_id: int | None) -> None:
        kept = self._remote_ids
        kept.pop(local_id, None)  # the newest last: the oldest goes first when full
        if len(kept) >= REMOTE_IDS_KEPT:
            del kept[next(iter(kept))]
        kept[local_id] = remote_id

    async def _ack_many(
        self,
        seqs: Sequence[int],
        remote_ids: Mapping[int, int] | None,
        pending: AckJournal | None,
        full: bool,
    ) -> int:
        """``ack_many``; one at a time per journal, which is settled by the count it wrote."""
        now_s = self._clock()
        journaled = list(pending.seqs) if pending is not None else []
        recovered = pending.recovered if pending is not None else []
        earlier_up_to = self._db.outbox_seq_at_open

        def job(conn: sqlite3.Connection) -> int:
            for local_id, remote_id in (remote_ids or {}).items():
                upsert_transaction_id(conn, local_id, remote_id)
            changed = ack_in(conn, [*journaled, *seqs], now_s)
            # Left by an earlier process: for rows it created, never for the ones this one
            # appended (a database restored from a backup gives their numbers again). Sequences,
            # not creation times: the clock rows are dated by may be ahead of or behind the wall
            # clock, or be set in between.
            return changed + ack_in(conn, recovered, now_s, up_to_seq=earlier_up_to)

        changed = await self._db.write(job, sync="full" if full else "normal")
        if pending is not None:
            pending.settled(len(journaled))
        return changed

    def journal_acks(self, identity: str, seqs: Sequence[int]) -> None:
        """Make acks of ``identity``'s messages ``seqs`` durable against a crash of the process
        with one small file append (``journal``), no commit; they are marked in the table
        by ``ack_many(..., journal=identity)`` or the next read of the line from its start.
        Until then ``backlog`` still counts them. One ``Outbox`` per database."""
        self._journal(identity).append(seqs)

    def _journal(self, identity: str) -> AckJournal:
        found = self._journals.get(identity)
        if found is None:
            found = self._journals[identity] = AckJournal(journal_path(self._db.path, identity))
        return found

    async def park(self, seq: int, error: str) -> None:
        """Set ``seq`` aside (kept, with ``error``) so the messages behind it can flow."""
        log.warning("outbox message parked", seq=seq, error=error[:_MAX_ERROR_CHARS])
        await self._set_state(seq, "parked", error)

    async def requeue(self, seq: int) -> None:
        """Put a parked message back in line (at its original position), with its attempts
        counted from zero: otherwise the first failure after it would park it again at once.
        KeyError: ``seq`` is not parked."""
        await self._requeue(" AND seq = ?", (seq,), f"no parked outbox message {seq}")

    async def requeue_all(self) -> list[int]:
        """Put every parked message back in line (one commit); returns their sequences."""
        return await self._requeue("", (), None)

    async def _requeue(self, where: str, params: tuple[Any, ...], missing: str | None) -> list[int]:
        now_s = self._clock()

        def job(conn: sqlite3.Connection) -> list[int]:
            cursor = conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, done_at_s = ?"
                " WHERE state = 'parked'" + where + " RETURNING seq, identity",
                (now_s, *params),
            )
            rows = cursor.fetchall()
            for row in rows:
                queued(str(row[1]))
            found = sorted(int(row[0]) for row in rows)
            if missing is not None and not found:
                raise KeyError(missing)
            return found

        return await self._db.write(job)

    async def parked_count(self) -> int:
        return await self._db.read(count_parked)

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

    async def session_backlog(self, identity: str, session_local_id: int | None) -> int:
        """Pending messages of ``identity`` that belong to session ``session_local_id`` (None:
        to any session, so not a problem report). Acks only journaled still count."""
        where = "state = 'pending' AND identity = ? AND session_local_id "
        params: tuple[Any, ...]
        if session_local_id is None:
            sql, params = where + "IS NOT NULL", (identity,)
        else:
            sql, params = where + "= ?", (identity, session_local_id)

        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT count(*) FROM outbox WHERE " + sql, params).fetchone()
            return int(row[0]) if row is not None else 0

        return await self._db.read(job)

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
        """Delete acked messages acknowledged more than ``older_than_s`` ago; returns count.
        Those of a transaction with messages still to send, or still open (its session
        running, or going on in ``plug_transactions``), are kept: they count in the position
        (``session_position``, seqNo) of the ones to come, and say where its end goes."""
        cutoff_s = self._clock() - older_than_s

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM outbox WHERE state = 'acked' AND done_at_s < ?"
                " AND (session_local_id IS NULL OR session_local_id NOT IN ("
                "  SELECT session_local_id FROM outbox WHERE state != 'acked'"
                "  AND session_local_id IS NOT NULL"
                "  UNION SELECT local_id FROM sessions WHERE stop_at_s IS NULL"
                "  UNION SELECT local_id FROM plug_transactions WHERE closed_at_s IS NULL))",
                (cutoff_s,),
            )
            return max(cursor.rowcount, 0)

        return await self._db.write(job)

    async def set_remote_transaction_id(self, session_local_id: int, remote_id: int) -> None:
        """Remember the CSMS transaction id of a local session (from StartTransaction.conf)."""
        write = self._db.write(lambda c: upsert_transaction_id(c, session_local_id, remote_id))
        await self._remembering({session_local_id: remote_id}, write)

    async def remote_transaction_id(self, session_local_id: int) -> int | None:
        """The CSMS transaction id of a local session (None: not known yet); from memory
        after the first read (smart charging and metering ask every few seconds per session)."""
        if session_local_id in self._remote_ids:
            return self._remote_ids[session_local_id]

        def job(conn: sqlite3.Connection) -> int | None:
            cursor = conn.execute(
                "SELECT remote_transaction_id FROM transaction_ids WHERE session_local_id = ?",
                (session_local_id,),
            )
            row = cursor.fetchone()
            return None if row is None else int(row[0])

        writes = self._remote_writes
        found = await self._db.read(job)
        if writes == self._remote_writes:  # no id written meanwhile: what was read holds
            self._keep_remote_id(session_local_id, found)
        return found

    async def stats(self) -> OutboxStats:
        def job(conn: sqlite3.Connection) -> OutboxStats:
            pending = count_pending(conn)
            self.capacity.observe(pending)
            return OutboxStats(
                pending=pending,
                parked=count_parked(conn),
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
