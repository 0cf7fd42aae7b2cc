"""The payments table keyed by terminal and reference (schema 11): rows of the first payments
release keep their reference as their session's token, so their sessions still settle."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from edge_controller.domain.payments import PaymentAuthorisation, PaymentTokenIssued, session_token
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.storage.database import Database
from edge_controller.storage.migrations import migrate
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.payments_store import (
    PaymentKey,
    PaymentState,
    PaymentStore,
    SettlementOutbox,
)

PAYMENTS_V10 = 10


async def test_payment_of_schema_10_keeps_its_reference_as_token(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(conn, target=PAYMENTS_V10)
        conn.execute(
            "INSERT INTO sessions (connector_id, id_tag, start_at_s, meter_start_wh,"
            " last_meter_wh, last_meter_at_s) VALUES ('wb1:1', '0001/001001/00', 10, 0, 0, 10)"
        )
        conn.execute(
            "INSERT INTO payments (reference, terminal_id, connector_id, currency,"
            " authorised_minor, card_name, state, session_local_id, authorised_at_s,"
            " changed_at_s) VALUES ('0001/001001/00', 'entrance', 'wb1:1', 'EUR', 3000,"
            " 'girocard', 'started', 1, 5, 10)"
        )
    finally:
        conn.close()
    db = await Database.open(path)
    try:
        store = PaymentStore(db)
        kept = await store.by_token("0001/001001/00")
        assert kept is not None and kept.key == PaymentKey("entrance", "0001/001001/00")
        assert kept.state is PaymentState.STARTED and kept.session_local_id == 1
        assert kept.authorisation.amount == Money.of_minor(3000, Currency.of("EUR"))
        assert kept.authorisation.receipt_lines == ()
    finally:
        await db.close()


async def test_an_approval_tells_a_16_csms_the_token_in_the_same_commit(tmp_path: Path) -> None:
    """The token of a card paid session is queued for a CSMS that is told of tokens (1.6) with
    the approval, so it goes before the session's StartTransaction; not for the others."""
    db = await Database.open(tmp_path / "edge.db")
    woken: list[bool] = []
    routes = {"wb1:1": "site16", "wb2:1": "site21"}
    outbox = SettlementOutbox(
        "site", routes.get, lambda: woken.append(True), tells_token=lambda i: i == "site16"
    )
    try:
        store = PaymentStore(db, outbox)
        amount = Money(Decimal("25.00"), Currency.of("EUR"))
        token = await store.authorised(PaymentAuthorisation("000123", amount), "t1", "wb1:1", 50.0)
        await store.authorised(PaymentAuthorisation("000124", amount), "t1", "wb2:1", 51.0)
        queue = Outbox(db)
        told = await queue.peek("site16")
        assert told is not None and told.event == PaymentTokenIssued("wb1:1", token, amount, 50.0)
        assert told.session_local_id is None
        assert await queue.peek("site21") is None and woken == [True]
        assert token == session_token("t1", "000123")
    finally:
        await db.close()
