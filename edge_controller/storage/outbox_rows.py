"""Outbox row helpers shared by the outbox and the session store (same-transaction appends)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

MessageKind = Literal["start", "stop", "final", "sample", "other"]
"""``sample`` marks an intermediate meter value: the only kind thinning may ever drop."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One queued uplink message.

    ``remote_transaction_id`` is the CSMS transaction id known for ``session_local_id`` at
    read time (None until StartTransaction was answered); the sender puts it into the payload.
    """

    seq: int
    identity: str
    action: str
    payload: dict[str, Any]
    kind: MessageKind
    session_local_id: int | None
    remote_transaction_id: int | None
    created_at_s: float
    attempts: int
    last_error: str | None
    state: Literal["pending", "acked", "parked"] = "pending"


SELECT_MESSAGE = """
SELECT o.seq, o.identity, o.action, o.payload, o.kind, o.session_local_id, o.created_at_s,
       o.attempts, o.last_error, o.state, t.remote_transaction_id
FROM outbox AS o LEFT JOIN transaction_ids AS t ON t.session_local_id = o.session_local_id
"""


def message_from_row(row: sqlite3.Row) -> OutboxMessage:
    return OutboxMessage(
        seq=row["seq"],
        identity=row["identity"],
        action=row["action"],
        payload=json.loads(row["payload"]),
        kind=row["kind"],
        session_local_id=row["session_local_id"],
        remote_transaction_id=row["remote_transaction_id"],
        created_at_s=row["created_at_s"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        state=row["state"],
    )


def append_in(
    conn: sqlite3.Connection,
    identity: str,
    action: str,
    payload: dict[str, Any],
    *,
    now_s: float,
    kind: MessageKind = "other",
    session_local_id: int | None = None,
) -> int:
    """Insert one message inside the caller's open transaction; returns its sequence number."""
    if not identity or not action:
        raise ValueError("an outbox message needs an identity and an action")
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    cursor = conn.execute(
        "INSERT INTO outbox (identity, action, payload, kind, session_local_id, created_at_s)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (identity, action, text, kind, session_local_id, now_s),
    )
    seq = cursor.lastrowid
    if seq is None:
        raise RuntimeError("sqlite returned no rowid for an insert")
    return seq
