"""Card payments: each approved pre-authorisation is stored before its session starts, and
moves once to settled, reversed or failed. A payment is named by its terminal and the terminal's
reference (two terminals count on their own); its session's token is unique across terminals.
The amount to capture is read from the session's priced cost, so a restart between the stop and
the capture settles it still, once."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from edge_controller.domain.payments import (
    UNPRICED,
    Capture,
    PaymentAuthorisation,
    PaymentTokenIssued,
    SettlementRecorded,
    SettlementStatus,
    session_token,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.pricing.receipt import receipt_id
from edge_controller.storage.database import Database
from edge_controller.storage.outbox.rows import append_in


@dataclass(frozen=True, slots=True)
class SettlementOutbox:
    """Where a paid session's settlement goes: the uplink identity of its connector (None:
    no CSMS), told in the same transaction as the capture; ``notify`` wakes the sender."""

    site_id: str
    route: Callable[[str], str | None]
    notify: Callable[[], None] = lambda: None
    # Whether an identity's CSMS is told of a paid session's token before its start (OCPP
    # 1.6: no token type says "paid by card"), in the same transaction as the approval.
    tells_token: Callable[[str], bool] = lambda _identity: False


class PaymentState(StrEnum):
    AUTHORISED = "authorised"  # approved at the terminal, no session yet
    STARTED = "started"  # its session runs (or ended, not yet captured)
    CAPTURING = "capturing"  # a book total was sent; its answer is not yet recorded
    SETTLED = "settled"
    REVERSED = "reversed"
    FAILED = "failed"  # needs the operator: the terminal's last word is in ``reason``


@dataclass(frozen=True, slots=True)
class PaymentKey:
    terminal_id: str
    reference: str


@dataclass(frozen=True, slots=True)
class StoredPayment:
    authorisation: PaymentAuthorisation  # its receipt lines: all the terminal printed so far
    terminal_id: str
    connector_id: str
    state: PaymentState
    session_local_id: int | None
    attempts: int
    settled: Money | None
    reason: str | None
    token: str = ""

    @property
    def key(self) -> PaymentKey:
        return PaymentKey(self.terminal_id, self.authorisation.reference)


@dataclass(frozen=True, slots=True)
class DueCapture:
    """A payment whose session is priced: capture ``cost`` (the session's total incl. tax)."""

    payment: StoredPayment
    cost: Money


_COLUMNS = (
    "reference, terminal_id, connector_id, currency, authorised_minor, card_name, state,"
    " session_local_id, attempts, settled_minor, reason, token, receipt_lines, status_texts"
)
_KEY = "terminal_id = ? AND reference = ?"


def _payment(row: sqlite3.Row | tuple[object, ...]) -> StoredPayment:
    ref, terminal, connector, code, minor, card, state, session, attempts, settled, reason = row[
        :11
    ]
    token, lines, texts = row[11:14]
    currency = Currency.of(str(code))
    receipt = tuple(str(line) for line in json.loads(str(lines)))
    shown = tuple(str(text) for text in json.loads(str(texts)))
    amount = Money.of_minor(int(str(minor)), currency)
    auth = PaymentAuthorisation(str(ref), amount, str(card), receipt, shown)
    return StoredPayment(
        auth,
        str(terminal),
        str(connector),
        PaymentState(str(state)),
        None if session is None else int(str(session)),
        int(str(attempts)),
        None if settled is None else Money.of_minor(int(str(settled)), currency),
        None if reason is None else str(reason),
        str(token),
    )


class PaymentStore:
    def __init__(self, db: Database, outbox: SettlementOutbox | None = None) -> None:
        self._db = db
        self._outbox = outbox

    async def authorising(
        self, terminal_id: str, connector_id: str, amount: Money, at_s: float
    ) -> int:
        """Record that a pre-authorisation is about to be asked for (before it is sent); its
        intent id, dropped by ``authorised`` or ``not_authorised``."""
        row = (terminal_id, connector_id, amount.currency.code, amount.minor, at_s)

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO payment_intents (terminal_id, connector_id, currency, amount_minor,"
                " at_s) VALUES (?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)

        return await self._db.write(job)

    async def not_authorised(self, intent_id: int) -> None:
        """The terminal declined or never answered in this run: nothing to keep."""
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM payment_intents WHERE id = ?", (intent_id,))
        )

    async def unknown_outcomes(
        self, terminal_id: str, asking: Collection[int] = ()
    ) -> list[tuple[int, str, Money]]:
        """Intents a crash cut before their outcome was stored (not among ``asking``, still
        awaited in this run), now marked 'unknown' (each returned once): id, connector, amount."""

        def job(conn: sqlite3.Connection) -> list[tuple[int, str, Money]]:
            found = [
                r
                for r in conn.execute(
                    "SELECT id, connector_id, currency, amount_minor FROM payment_intents"
                    " WHERE terminal_id = ? AND state = 'authorising'",
                    (terminal_id,),
                )
                if int(r[0]) not in asking
            ]
            conn.executemany(
                "UPDATE payment_intents SET state = 'unknown' WHERE id = ?",
                [(r[0],) for r in found],
            )
            return [
                (int(r[0]), str(r[1]), Money.of_minor(int(r[3]), Currency.of(str(r[2]))))
                for r in found
            ]

        return await self._db.write(job)

    async def authorised(
        self,
        auth: PaymentAuthorisation,
        terminal_id: str,
        connector_id: str,
        at_s: float,
        intent_id: int | None = None,
    ) -> str:
        """Record an approved pre-authorisation (committed when this returns), its intent
        dropped in the same commit; the token its session is to start with."""
        token = session_token(terminal_id, auth.reference)
        row = (
            auth.reference,
            terminal_id,
            token,
            connector_id,
            auth.amount.currency.code,
            auth.amount.minor,
            auth.card_name,
            json.dumps(list(auth.receipt_lines)),
            json.dumps(list(auth.status_texts)),
            at_s,
            at_s,
        )

        def job(conn: sqlite3.Connection) -> bool:
            conn.execute(
                "INSERT INTO payments (reference, terminal_id, token, connector_id, currency,"
                " authorised_minor, card_name, receipt_lines, status_texts, state,"
                " authorised_at_s, changed_at_s)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'authorised', ?, ?)",
                row,
            )
            conn.execute("DELETE FROM payment_intents WHERE id = ?", (intent_id,))
            return self._tell_token(
                conn, PaymentTokenIssued(connector_id, token, auth.amount, at_s)
            )

        if await self._db.write(job) and self._outbox is not None:
            self._outbox.notify()
        return token

    def _tell_token(self, conn: sqlite3.Connection, issued: PaymentTokenIssued) -> bool:
        """Queue the token for a CSMS that is to be told of it (inside the caller's
        transaction, before the session's start is queued); whether one was queued."""
        identity = None if self._outbox is None else self._outbox.route(issued.connector_id)
        if identity is None or self._outbox is None or not self._outbox.tells_token(identity):
            return False
        append_in(conn, identity, issued, now_s=issued.at_s)
        return True

    async def started(self, key: PaymentKey, session_local_id: int, at_s: float) -> None:
        move = _Move((PaymentState.AUTHORISED,), PaymentState.STARTED, "session_local_id = ?")
        await self._move(key, move, at_s, (session_local_id,))

    async def reversed(self, key: PaymentKey, at_s: float) -> None:
        await self._move(key, _Move((PaymentState.AUTHORISED,), PaymentState.REVERSED), at_s)

    async def released(
        self, key: PaymentKey, nothing: Money, at_s: float, reason: str = UNPRICED
    ) -> bool:
        """A started payment whose session ended with nothing to capture (unpriced, or priced
        0.00), reversed at the terminal: settled as Canceled with ``nothing`` booked and
        ``reason``; False if it had moved on meanwhile."""
        move = _Move((PaymentState.STARTED,), PaymentState.REVERSED, "reason = ?")
        told = _Told(SettlementStatus.CANCELED, nothing, reason)
        return await self._move(key, move, at_s, (reason,), told)

    async def capturing(self, key: PaymentKey, at_s: float) -> bool:
        """Mark a capture as sent (before sending it); False if it was settled meanwhile."""
        sources = (PaymentState.STARTED, PaymentState.CAPTURING)
        move = _Move(sources, PaymentState.CAPTURING, "attempts = attempts + 1")
        return await self._move(key, move, at_s)

    async def settled(self, key: PaymentKey, capture: Capture, at_s: float) -> bool:
        """Record the capture the terminal confirmed, its receipt lines and status texts after
        the pre-authorisation's; False if it was already recorded."""
        params = (
            capture.amount.minor,
            json.dumps(list(capture.receipt_lines)),
            json.dumps(list(capture.status_texts)),
        )
        extra = f"settled_minor = ?, {_appended('receipt_lines')}, {_appended('status_texts')}"
        move = _Move((PaymentState.CAPTURING,), PaymentState.SETTLED, extra)
        told = _Told(SettlementStatus.SETTLED, capture.amount)
        return await self._move(key, move, at_s, params, told)

    async def failed(
        self, key: PaymentKey, reason: str, at_s: float, amount: Money | None = None
    ) -> None:
        """The terminal refused; a failed capture (or release) of ``amount`` is settled as
        Failed."""
        sources = (PaymentState.CAPTURING, PaymentState.AUTHORISED, PaymentState.STARTED)
        move = _Move(sources, PaymentState.FAILED, "reason = ?")
        told = None if amount is None else _Told(SettlementStatus.FAILED, amount, reason)
        await self._move(key, move, at_s, (reason,), told)

    async def get(self, key: PaymentKey) -> StoredPayment | None:
        return await self._one(f"WHERE {_KEY}", (key.terminal_id, key.reference))

    async def by_token(self, token: str) -> StoredPayment | None:
        """The payment a session's token names (None: the session was not paid at a terminal)."""
        return await self._one("WHERE token = ?", (token,))

    async def unstarted(self, terminal_id: str | None = None) -> list[StoredPayment]:
        """Pre-authorisations not yet linked to a session: to be reversed, or linked to the
        session that started with their token (``session_local_id`` set) before a crash."""

        def job(conn: sqlite3.Connection) -> list[StoredPayment]:
            sql = (
                f"SELECT {_prefixed('p')}, (SELECT s.local_id FROM sessions s WHERE"
                " s.id_tag = p.token AND s.connector_id = p.connector_id"
                " ORDER BY s.local_id DESC LIMIT 1)"
                " FROM payments p WHERE p.state = 'authorised'"
                " AND (? IS NULL OR p.terminal_id = ?)"
            )
            found = []
            for row in conn.execute(sql, (terminal_id, terminal_id)):
                payment = _payment(tuple(row[:-1]))
                linked = None if row[-1] is None else int(row[-1])
                found.append(_with_session(payment, linked))
            return found

        return await self._db.read(job)

    async def charging(self) -> list[StoredPayment]:
        """Started payments whose session is still open (their cost is watched)."""

        def job(conn: sqlite3.Connection) -> list[StoredPayment]:
            sql = (
                f"SELECT {_prefixed('p')} FROM payments p"
                " JOIN sessions s ON s.local_id = p.session_local_id"
                " WHERE p.state = 'started' AND s.stop_at_s IS NULL"
            )
            return [_payment(row) for row in conn.execute(sql)]

        return await self._db.read(job)

    async def ended_unpriced(self, terminal_id: str | None = None) -> list[StoredPayment]:
        """Started payments whose session stopped without a tariff: it is never priced, so
        never captured (a session with a tariff and no cost yet is priced at the next start)."""

        def job(conn: sqlite3.Connection) -> list[StoredPayment]:
            sql = (
                f"SELECT {_prefixed('p')} FROM payments p"
                " JOIN sessions s ON s.local_id = p.session_local_id"
                " WHERE p.state = 'started' AND s.stop_at_s IS NOT NULL AND s.tariff_id IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM session_costs c"
                " WHERE c.session_local_id = s.local_id)"
                " AND (? IS NULL OR p.terminal_id = ?) ORDER BY p.authorised_at_s"
            )
            return [_payment(row) for row in conn.execute(sql, (terminal_id, terminal_id))]

        return await self._db.read(job)

    async def due_captures(self, terminal_id: str | None = None) -> list[DueCapture]:
        """Payments whose session is stopped and priced and that are not settled yet."""

        def job(conn: sqlite3.Connection) -> list[DueCapture]:
            sql = (
                f"SELECT {_prefixed('p')}, c.total_incl_tax_minor, c.currency FROM payments p"
                " JOIN session_costs c ON c.session_local_id = p.session_local_id"
                " JOIN sessions s ON s.local_id = p.session_local_id"
                " WHERE p.state IN ('started', 'capturing') AND s.stop_at_s IS NOT NULL"
                " AND (? IS NULL OR p.terminal_id = ?)"
                " ORDER BY p.authorised_at_s"
            )
            due = []
            for row in conn.execute(sql, (terminal_id, terminal_id)):
                cost = Money.of_minor(int(row[-2]), Currency.of(str(row[-1])))
                due.append(DueCapture(_payment(tuple(row[:-2])), cost))
            return due

        return await self._db.read(job)

    async def _one(self, where: str, params: tuple[object, ...]) -> StoredPayment | None:
        def job(conn: sqlite3.Connection) -> StoredPayment | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM payments {where}", params).fetchone()
            return None if row is None else _payment(row)

        return await self._db.read(job)

    async def _move(
        self,
        key: PaymentKey,
        move: _Move,
        at_s: float,
        params: tuple[object, ...] = (),
        told: _Told | None = None,
    ) -> bool:
        """Apply ``move`` to one payment; False if it was in another state (the move happened
        before, or never can). ``told``: the settlement it ends with, in the same transaction."""
        sets = ", ".join(s for s in ("state = ?", "changed_at_s = ?", move.extra) if s)
        marks = ", ".join("?" for _ in move.sources)
        where = (key.terminal_id, key.reference, *(s.value for s in move.sources))

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f"UPDATE payments SET {sets} WHERE {_KEY} AND state IN ({marks})",
                (move.target.value, at_s, *params, *where),
            )
            if cursor.rowcount != 1:
                return False
            if told is not None:
                self._tell(conn, key, told, at_s)
            return True

        moved = await self._db.write(job)
        if moved and told is not None and self._outbox is not None:
            self._outbox.notify()
        return moved

    def _tell(self, conn: sqlite3.Connection, key: PaymentKey, told: _Told, at_s: float) -> None:
        """Queue the settlement of a paid session for the CSMS (inside the caller's
        transaction); nothing without an uplink or a session."""
        if self._outbox is None:
            return
        row = conn.execute(
            f"SELECT connector_id, token, session_local_id FROM payments WHERE {_KEY}",
            (key.terminal_id, key.reference),
        ).fetchone()
        connector_id, token, local_id = str(row[0]), str(row[1]), row[2]
        identity = self._outbox.route(connector_id)
        if identity is None or local_id is None:
            return
        receipt = receipt_id(self._outbox.site_id, int(local_id))
        event = SettlementRecorded(
            int(local_id), connector_id, token, told.status, told.amount, at_s, receipt,
            told.info,
        )  # fmt: skip
        append_in(conn, identity, event, now_s=at_s)


def _appended(column: str) -> str:
    """An assignment appending a JSON list (the next parameter) to the list in ``column``."""
    return (
        f"{column} = (SELECT json_group_array(value) FROM"
        f" (SELECT 0 AS part, key, value FROM json_each({column}) UNION ALL"
        " SELECT 1, key, value FROM json_each(?) ORDER BY part, key))"
    )


def _prefixed(table: str) -> str:
    return ", ".join(f"{table}.{c.strip()}" for c in _COLUMNS.split(","))


def _with_session(payment: StoredPayment, local_id: int | None) -> StoredPayment:
    if local_id is None:
        return payment
    return StoredPayment(
        payment.authorisation, payment.terminal_id, payment.connector_id, payment.state,
        local_id, payment.attempts, payment.settled, payment.reason, payment.token,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Move:
    sources: tuple[PaymentState, ...]
    target: PaymentState
    extra: str = ""  # further assignments, their values passed with the move


@dataclass(frozen=True, slots=True)
class _Told:
    status: SettlementStatus
    amount: Money
    info: str = ""
