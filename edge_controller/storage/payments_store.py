"""Card payments (schema v10): each approved pre-authorisation is stored before its session
starts, and moves once to settled, reversed or failed. The amount to capture is read from the
session's priced cost, so a restart between the stop and the capture settles it still, once."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from edge_controller.domain.payments import PaymentAuthorisation
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.storage.database import Database


class PaymentState(StrEnum):
    AUTHORISED = "authorised"  # approved at the terminal, no session yet
    STARTED = "started"  # its session runs (or ended, not yet captured)
    CAPTURING = "capturing"  # a book total was sent; its answer is not yet recorded
    SETTLED = "settled"
    REVERSED = "reversed"
    FAILED = "failed"  # needs the operator: the terminal's last word is in ``reason``


@dataclass(frozen=True, slots=True)
class StoredPayment:
    authorisation: PaymentAuthorisation
    terminal_id: str
    connector_id: str
    state: PaymentState
    session_local_id: int | None
    attempts: int
    settled: Money | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class DueCapture:
    """A payment whose session is priced: capture ``cost`` (the session's total incl. tax)."""

    payment: StoredPayment
    cost: Money


_COLUMNS = (
    "reference, terminal_id, connector_id, currency, authorised_minor, card_name, state,"
    " session_local_id, attempts, settled_minor, reason"
)


def _payment(row: sqlite3.Row | tuple[object, ...]) -> StoredPayment:
    ref, terminal, connector, code, minor, card, state, session, attempts, settled, reason = row
    currency = Currency.of(str(code))
    auth = PaymentAuthorisation(str(ref), Money.of_minor(int(str(minor)), currency), str(card))
    return StoredPayment(
        auth,
        str(terminal),
        str(connector),
        PaymentState(str(state)),
        None if session is None else int(str(session)),
        int(str(attempts)),
        None if settled is None else Money.of_minor(int(str(settled)), currency),
        None if reason is None else str(reason),
    )


class PaymentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def authorised(
        self, auth: PaymentAuthorisation, terminal_id: str, connector_id: str, at_s: float
    ) -> None:
        """Record an approved pre-authorisation (committed when this returns)."""
        row = (
            auth.reference,
            terminal_id,
            connector_id,
            auth.amount.currency.code,
            auth.amount.minor,
            auth.card_name,
            at_s,
            at_s,
        )

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO payments (reference, terminal_id, connector_id, currency,"
                " authorised_minor, card_name, state, authorised_at_s, changed_at_s)"
                " VALUES (?, ?, ?, ?, ?, ?, 'authorised', ?, ?)",
                row,
            )

        await self._db.write(job)

    async def started(self, reference: str, session_local_id: int, at_s: float) -> None:
        move = _Move((PaymentState.AUTHORISED,), PaymentState.STARTED, "session_local_id = ?")
        await self._move(reference, move, at_s, (session_local_id,))

    async def reversed(self, reference: str, at_s: float) -> None:
        await self._move(reference, _Move((PaymentState.AUTHORISED,), PaymentState.REVERSED), at_s)

    async def capturing(self, reference: str, at_s: float) -> bool:
        """Mark a capture as sent (before sending it); False if it was settled meanwhile."""
        sources = (PaymentState.STARTED, PaymentState.CAPTURING)
        move = _Move(sources, PaymentState.CAPTURING, "attempts = attempts + 1")
        return await self._move(reference, move, at_s)

    async def settled(self, reference: str, amount: Money, at_s: float) -> bool:
        """Record the capture the terminal confirmed; False if it was already recorded."""
        move = _Move((PaymentState.CAPTURING,), PaymentState.SETTLED, "settled_minor = ?")
        return await self._move(reference, move, at_s, (amount.minor,))

    async def failed(self, reference: str, reason: str, at_s: float) -> None:
        sources = (PaymentState.CAPTURING, PaymentState.AUTHORISED)
        await self._move(
            reference, _Move(sources, PaymentState.FAILED, "reason = ?"), at_s, (reason,)
        )

    async def get(self, reference: str) -> StoredPayment | None:
        def job(conn: sqlite3.Connection) -> StoredPayment | None:
            sql = f"SELECT {_COLUMNS} FROM payments WHERE reference = ?"
            row = conn.execute(sql, (reference,)).fetchone()
            return None if row is None else _payment(row)

        return await self._db.read(job)

    async def unstarted(self) -> list[StoredPayment]:
        """Pre-authorisations without a session: to be reversed."""

        def job(conn: sqlite3.Connection) -> list[StoredPayment]:
            sql = f"SELECT {_COLUMNS} FROM payments WHERE state = 'authorised'"
            return [_payment(row) for row in conn.execute(sql)]

        return await self._db.read(job)

    async def due_captures(self) -> list[DueCapture]:
        """Payments whose session is stopped and priced and that are not settled yet."""

        def job(conn: sqlite3.Connection) -> list[DueCapture]:
            cols = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))
            sql = (
                f"SELECT {cols}, c.total_incl_tax_minor, c.currency FROM payments p"
                " JOIN session_costs c ON c.session_local_id = p.session_local_id"
                " JOIN sessions s ON s.local_id = p.session_local_id"
                " WHERE p.state IN ('started', 'capturing') AND s.stop_at_s IS NOT NULL"
                " ORDER BY p.authorised_at_s"
            )
            due = []
            for row in conn.execute(sql):
                cost = Money.of_minor(int(row[-2]), Currency.of(str(row[-1])))
                due.append(DueCapture(_payment(tuple(row[:-2])), cost))
            return due

        return await self._db.read(job)

    async def _move(
        self, reference: str, move: _Move, at_s: float, params: tuple[object, ...] = ()
    ) -> bool:
        """Apply ``move`` to one payment; False if it was in another state (the move happened
        before, or never can)."""
        sets = ", ".join(s for s in ("state = ?", "changed_at_s = ?", move.extra) if s)
        marks = ", ".join("?" for _ in move.sources)

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"UPDATE payments SET {sets} WHERE reference = ? AND state IN ({marks})",
                (move.target.value, at_s, *params, reference, *(s.value for s in move.sources)),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)


@dataclass(frozen=True, slots=True)
class _Move:
    sources: tuple[PaymentState, ...]
    target: PaymentState
    extra: str = ""  # further assignments, their values passed with the move
