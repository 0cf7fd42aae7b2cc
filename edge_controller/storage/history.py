"""Finished and running sessions with their tariff and cost, read for reports and receipts
(``edge-controller sessions``) from another process while the daemon writes.

Reads stream row by row on a read-only connection (WAL lets the daemon go on writing), so an
export of a year of sessions needs memory for one row, not for the year.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edge_controller.storage.errors import StorageError
from edge_controller.storage.migrations import schema_version
from edge_controller.storage.outbox.capacity import count_parked


@dataclass(frozen=True, slots=True)
class HistoryRow:
    local_id: int
    connector_id: str
    id_tag: str
    start_at_s: float
    stop_at_s: float | None
    meter_start_wh: int
    meter_stop_wh: int | None
    last_meter_wh: int
    stop_reason: str | None
    tariff_id: str | None
    tariff_version: int | None
    tariff_source: str | None
    currency: str | None  # None: not priced (no tariff, or still running)
    total_excl_tax_minor: int | None
    total_incl_tax_minor: int | None
    breakdown: str | None  # the stored JSON, parsed only where a receipt needs it
    source: str = "local"  # how the session was authorised (``SessionStart.source``)
    paid_at_terminal: bool = False  # a card pre-authorisation at a terminal paid it
    captured_minor: int | None = None  # what the terminal captured (settled payments only)

    @property
    def energy_wh(self) -> int:
        stop = self.meter_stop_wh if self.meter_stop_wh is not None else self.last_meter_wh
        return stop - self.meter_start_wh


_SELECT = """
SELECT s.local_id, s.connector_id, s.id_tag, s.start_at_s, s.stop_at_s, s.meter_start_wh,
       s.meter_stop_wh, s.last_meter_wh, s.stop_reason, s.tariff_id, s.tariff_version,
       s.tariff_source, c.currency, c.total_excl_tax_minor, c.total_incl_tax_minor, {breakdown},
       s.source, {paid}, {captured}
FROM sessions AS s LEFT JOIN session_costs AS c ON c.session_local_id = s.local_id
"""
# Whether a card payment paid the session (payments exist from schema 10 on).
_PAID = "EXISTS (SELECT 1 FROM payments AS p WHERE p.session_local_id = s.local_id)"
_CAPTURED = (
    "(SELECT p.settled_minor FROM payments AS p"
    " WHERE p.session_local_id = s.local_id AND p.state = 'settled')"
)
MIN_SCHEMA = 6  # sessions with tariffs and costs
PAYMENTS_FIRST_SCHEMA = 10  # the payments table


@contextlib.contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at ``path``; StorageError names what is wrong."""
    if not path.exists():
        raise StorageError(f"no database at {path} (storage.state_dir / storage.database)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc
    try:
        version = schema_version(conn)
        if version < MIN_SCHEMA:
            raise StorageError(
                f"{path} has schema {version}: start the daemon once to upgrade it (needs 6)"
            )
        yield conn
    except sqlite3.Error as exc:
        raise StorageError(f"database read failed: {exc}") from exc
    finally:
        conn.close()


def sessions(
    conn: sqlite3.Connection,
    from_s: float | None = None,
    to_s: float | None = None,
    *,
    with_breakdown: bool = False,
) -> Iterator[HistoryRow]:
    """Sessions started in [from_s, to_s), oldest first, one row at a time."""
    where, params = [], []
    if from_s is not None:
        where.append("s.start_at_s >= ?")
        params.append(from_s)
    if to_s is not None:
        where.append("s.start_at_s < ?")
        params.append(to_s)
    breakdown = "c.breakdown" if with_breakdown else "NULL"
    sql = _SELECT.format(breakdown=breakdown, **_payment_columns(conn))
    sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY s.start_at_s, s.local_id"
    for row in conn.execute(sql, params):
        yield _row(row)


def session(conn: sqlite3.Connection, local_id: int) -> HistoryRow | None:
    sql = _SELECT.format(breakdown="c.breakdown", **_payment_columns(conn))
    sql += " WHERE s.local_id = ?"
    row = conn.execute(sql, (local_id,)).fetchone()
    return None if row is None else _row(row)


def _row(row: Any) -> HistoryRow:
    """A row of ``_SELECT``: the session's columns, its source, whether a card payment paid it
    and what that payment captured."""
    return replace(
        HistoryRow(*row[:-3]), source=row[-3], paid_at_terminal=bool(row[-2]),
        captured_minor=row[-1],
    )  # fmt: skip


def _payment_columns(conn: sqlite3.Connection) -> dict[str, str]:
    if schema_version(conn) < PAYMENTS_FIRST_SCHEMA:
        return {"paid": "0", "captured": "NULL"}
    return {"paid": _PAID, "captured": _CAPTURED}


PAYMENTS_SCHEMA = 12  # payments keyed by terminal, with their receipt lines and status texts


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """The card payment of a session, as the payments table keeps it."""

    terminal_id: str
    token: str
    currency: str
    authorised_minor: int
    settled_minor: int | None
    card_name: str
    state: str
    receipt_lines: str  # JSON list
    status_texts: str  # JSON list


def payment(conn: sqlite3.Connection, local_id: int) -> PaymentRow | None:
    """The payment that paid session ``local_id`` (None: not paid at a terminal)."""
    if schema_version(conn) < PAYMENTS_SCHEMA:
        return None
    row = conn.execute(
        "SELECT terminal_id, token, currency, authorised_minor, settled_minor, card_name, state,"
        " receipt_lines, status_texts FROM payments WHERE session_local_id = ?",
        (local_id,),
    ).fetchone()
    return None if row is None else PaymentRow(*row)


def tariff_body(conn: sqlite3.Connection, tariff_id: str, version: int) -> str | None:
    row = conn.execute(
        "SELECT body FROM tariffs WHERE tariff_id = ? AND version = ?", (tariff_id, version)
    ).fetchone()
    return None if row is None else str(row[0])


def tariff_changes(conn: sqlite3.Connection, local_id: int) -> list[tuple[float, str, int, str]]:
    """A session's tariff changes (2.1 ChangeTransactionTariff) in the order made: (at_s,
    tariff id, version, source)."""
    rows = conn.execute(
        "SELECT at_s, tariff_id, version, source FROM session_tariff_changes"
        " WHERE session_local_id = ? ORDER BY id",
        (local_id,),
    ).fetchall()
    return [(float(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]


@dataclass(frozen=True, slots=True)
class UnknownIntent:
    """A card pre-authorisation a crash cut before its outcome was stored: the terminal may
    have reserved the amount; its journal says."""

    intent_id: int
    terminal_id: str
    connector_id: str
    currency: str
    amount_minor: int
    at_s: float


def _has_intents(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'payment_intents'"
    ).fetchone()
    return found is not None


def unknown_intents(conn: sqlite3.Connection) -> list[UnknownIntent]:
    """Intents in state 'unknown', oldest first (none before the table existed)."""
    if not _has_intents(conn):
        return []
    rows = conn.execute(
        "SELECT id, terminal_id, connector_id, currency, amount_minor, at_s"
        " FROM payment_intents WHERE state = 'unknown' ORDER BY at_s, id"
    ).fetchall()
    return [UnknownIntent(*row) for row in rows]


def count_unknown_intents(conn: sqlite3.Connection) -> int:
    if not _has_intents(conn):
        return 0
    row = conn.execute("SELECT count(*) FROM payment_intents WHERE state = 'unknown'").fetchone()
    return int(row[0]) if row is not None else 0


@dataclass(frozen=True, slots=True)
class ParkedRow:
    """An outbox message the CSMS refused past its attempts (kept, never sent again unless
    an operator puts it back in line)."""

    seq: int
    identity: str
    kind: str
    event: str
    session_local_id: int | None
    created_at_s: float
    attempts: int
    last_error: str | None


def parked_messages(conn: sqlite3.Connection, limit: int = 1000) -> list[ParkedRow]:
    rows = conn.execute(
        "SELECT seq, identity, kind, event, session_local_id, created_at_s, attempts, last_error"
        " FROM outbox WHERE state = 'parked' ORDER BY seq LIMIT ?",
        (limit,),
    ).fetchall()
    return [ParkedRow(*row) for row in rows]


def held_for_operator(conn: sqlite3.Connection) -> tuple[int, int]:
    """(outbox messages parked after their attempts, card payments whose outcome is unknown)."""
    return count_parked(conn), count_unknown_intents(conn)
