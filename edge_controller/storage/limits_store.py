"""The CSMS's limits of running transactions, kept with their sessions (the session store's
jobs; the outbox reads the body to report a limit back)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal, InvalidOperation
from typing import Any

from edge_controller.domain.commands import TransactionLimit

_FIELDS = ("max_cost", "max_energy_wh", "max_time_s", "max_soc_pct")


def limit_json(limit: TransactionLimit) -> str:
    """Decimals as text, so a cost keeps its cents exactly."""
    body: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(limit, name)
        if value is not None:
            body[name] = str(value) if isinstance(value, Decimal) else value
    return json.dumps(body, separators=(",", ":"))


def limit_from_json(text: str | None) -> TransactionLimit | None:
    """The stored limit (None: none, or one this cannot read)."""
    if text is None:
        return None
    try:
        body = json.loads(text)
        return TransactionLimit(
            max_cost=_decimal(body.get("max_cost")),
            max_energy_wh=_decimal(body.get("max_energy_wh")),
            max_time_s=_int(body.get("max_time_s")),
            max_soc_pct=_int(body.get("max_soc_pct")),
        )
    except (ValueError, TypeError, AttributeError, InvalidOperation):
        return None


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def set_limit_in(
    conn: sqlite3.Connection, session_local_id: int, limit: TransactionLimit, at_s: float
) -> bool:
    """Keep ``limit`` for an open session (a later one replaces it); False: no such open
    session."""
    found = conn.execute(
        "SELECT 1 FROM sessions WHERE local_id = ? AND stop_at_s IS NULL", (session_local_id,)
    ).fetchone()
    if found is None:
        return False
    conn.execute(
        "INSERT OR REPLACE INTO transaction_limits (session_local_id, body, set_at_s)"
        " VALUES (?, ?, ?)",
        (session_local_id, limit_json(limit), at_s),
    )
    return True


def open_limits(conn: sqlite3.Connection) -> dict[int, TransactionLimit]:
    """The limits of the sessions still open, by local id."""
    rows = conn.execute(
        "SELECT l.session_local_id, l.body FROM transaction_limits AS l"
        " JOIN sessions AS s ON s.local_id = l.session_local_id WHERE s.stop_at_s IS NULL"
    ).fetchall()
    found = {int(r[0]): limit_from_json(r[1]) for r in rows}
    return {k: v for k, v in found.items() if v is not None}
