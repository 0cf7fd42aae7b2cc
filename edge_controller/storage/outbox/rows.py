"""Outbox row helpers: SQL run inside a caller's transaction (outbox, session store)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edge_controller.domain.commands import TransactionLimit
from edge_controller.domain.monitoring import MonitorTriggered
from edge_controller.domain.payments import PaymentTokenIssued, SettlementRecorded
from edge_controller.domain.problems import ProblemHandled, ProblemReported
from edge_controller.domain.security import SecurityEventRaised
from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    EvConnected,
    EvWaitEnded,
    OutboxEvent,
    SessionEnded,
    SessionStarted,
)
from edge_controller.storage.limits_store import limit_from_json
from edge_controller.storage.outbox.codec import UnreadableEvent, decode, encode
from edge_controller.storage.outbox.queued import queued

_ACK_CHUNK = 500

MessageKind = Literal["start", "stop", "final", "sample", "other"]
"""``sample`` marks an intermediate meter value: the only kind thinning may ever drop."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One queued event for an uplink identity.

    ``event`` is None when the stored body cannot be read (``unreadable`` says why): the
    sender parks such a row, it is never dropped. ``remote_transaction_id`` is the CSMS
    transaction id known for ``session_local_id`` at read time (None until the session's
    start was answered).
    """

    seq: int
    identity: str
    event: OutboxEvent | None
    kind: MessageKind
    session_local_id: int | None
    remote_transaction_id: int | None
    created_at_s: float
    attempts: int
    last_error: str | None
    state: Literal["pending", "acked", "parked"] = "pending"
    unreadable: str | None = None
    # How many events of the same session were queued before this one (None: no session):
    # OCPP 2.x numbers a transaction's messages from it (seqNo), without gaps.
    session_position: int | None = None
    # The session's final cost (``domain.pricing.codec`` breakdown JSON) when it was priced in
    # the transaction that queued this event or before: what a resent event carries stays the
    # same (a cost priced later is not added to an event already queued).
    session_cost: dict[str, Any] | None = None
    # The CSMS's limit of the session when this event was queued (OCPP 2.1 reports it back).
    session_limit: TransactionLimit | None = None
    # The tariff pricing the session when this event was queued (its own, or the one a 2.1
    # ChangeTransactionTariff gave it since); OCPP 2.1 names it in transactionInfo.
    session_tariff_id: str | None = None


SELECT_MESSAGE = """
SELECT o.seq, o.identity, o.event, o.body, o.kind, o.session_local_id, o.created_at_s,
       o.attempts, o.last_error, o.state, t.remote_transaction_id,
       (SELECT count(*) FROM outbox AS b WHERE b.session_local_id = o.session_local_id
        AND b.seq < o.seq) AS session_position,
       (SELECT c.breakdown FROM session_costs AS c WHERE c.session_local_id = o.session_local_id
        AND c.priced_at_s <= o.created_at_s) AS session_cost,
       (SELECT l.body FROM transaction_limits AS l WHERE l.session_local_id = o.session_local_id
        AND l.set_at_s <= o.created_at_s) AS session_limit,
       COALESCE((SELECT x.tariff_id FROM session_tariff_changes AS x
                 WHERE x.session_local_id = o.session_local_id AND x.at_s <= o.created_at_s
                 ORDER BY x.id DESC LIMIT 1),
                (SELECT s.tariff_id FROM sessions AS s WHERE s.local_id = o.session_local_id))
         AS session_tariff_id
FROM outbox AS o LEFT JOIN transaction_ids AS t ON t.session_local_id = o.session_local_id
"""


def message_from_row(row: sqlite3.Row) -> OutboxMessage:
    event: OutboxEvent | None = None
    unreadable = None
    try:
        event = decode(row["event"], row["body"])
    except UnreadableEvent as exc:
        unreadable = str(exc)
    return OutboxMessage(
        seq=row["seq"],
        identity=row["identity"],
        event=event,
        kind=row["kind"],
        session_local_id=row["session_local_id"],
        remote_transaction_id=row["remote_transaction_id"],
        created_at_s=row["created_at_s"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        state=row["state"],
        unreadable=unreadable,
        session_position=None if row["session_local_id"] is None else row["session_position"],
        session_cost=_cost(row["session_cost"]),
        session_limit=limit_from_json(row["session_limit"]),
        session_tariff_id=row["session_tariff_id"],
    )


def _cost(text: str | None) -> dict[str, Any] | None:
    """The stored breakdown; one that cannot be read is left out (the event still goes)."""
    try:
        found = None if text is None else json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def kind_of(event: OutboxEvent) -> MessageKind:
    if isinstance(
        event,
        ProblemReported
        | ProblemHandled
        | SecurityEventRaised
        | SettlementRecorded
        | PaymentTokenIssued
        | MonitorTriggered,
    ):
        return "other"  # never thinned
    if isinstance(event, SessionStarted | EvConnected | AuthorizedFirst):
        return "start"
    if isinstance(event, SessionEnded | EvWaitEnded):
        return "stop"
    return "sample"


def append_in(conn: sqlite3.Connection, identity: str, event: OutboxEvent, *, now_s: float) -> int:
    """Insert one event inside the caller's open transaction; returns its sequence number.
    Its kind and session come from the event."""
    if not identity:
        raise ValueError("an outbox event needs an identity")
    event_type, body = encode(event)
    cursor = conn.execute(
        "INSERT INTO outbox (identity, event, body, kind, session_local_id, created_at_s)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (identity, event_type, body, kind_of(event), event.session_local_id, now_s),
    )
    seq = cursor.lastrowid
    if seq is None:
        raise RuntimeError("sqlite returned no rowid for an insert")
    queued(identity)
    return seq


def select_pending(
    conn: sqlite3.Connection, identity: str, after_seq: int | None, limit: int
) -> list[OutboxMessage]:
    """Pending messages of ``identity`` in sequence order (seqs are never reused)."""
    cursor = conn.execute(
        SELECT_MESSAGE + " WHERE o.identity = ? AND o.state = 'pending' AND o.seq > ?"
        " ORDER BY o.seq LIMIT ?",
        (identity, -1 if after_seq is None else after_seq, limit),
    )
    return [message_from_row(row) for row in cursor.fetchall()]


def ack_in(
    conn: sqlite3.Connection,
    seqs: Sequence[int],
    now_s: float,
    *,
    up_to_seq: int | None = None,
) -> int:
    """Mark ``seqs`` acked inside the caller's transaction; returns how many changed. With
    ``up_to_seq``, only rows with a sequence no higher than that."""
    changed = 0
    extra = "" if up_to_seq is None else " AND seq <= ?"
    tail = () if up_to_seq is None else (up_to_seq,)
    # One statement per chunk costs a fraction of one per row; chunks stay under SQLite's
    # limit on bound parameters.
    for first in range(0, len(seqs), _ACK_CHUNK):
        chunk = seqs[first : first + _ACK_CHUNK]
        cursor = conn.execute(
            "UPDATE outbox SET state = 'acked', done_at_s = ?"
            f" WHERE seq IN ({','.join('?' * len(chunk))}) AND state != 'acked'{extra}",
            (now_s, *chunk, *tail),
        )
        changed += cursor.rowcount
    return changed


def last_seq(conn: sqlite3.Connection) -> int:
    """The highest sequence the outbox ever gave (0 for none): rows appended later have higher
    ones, whatever the clock says (AUTOINCREMENT never hands out a number twice)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    return int(row[0]) if row is not None else 0


def upsert_transaction_id(conn: sqlite3.Connection, session_local_id: int, remote_id: int) -> None:
    conn.execute(
        "INSERT INTO transaction_ids (session_local_id, remote_transaction_id)"
        " VALUES (?, ?) ON CONFLICT(session_local_id)"
        " DO UPDATE SET remote_transaction_id = excluded.remote_transaction_id",
        (session_local_id, remote_id),
    )
