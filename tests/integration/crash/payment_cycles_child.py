"""One life of the random-kill paid-session crash test: card paid sessions one after another
on the database, against the simulated terminal the test runs (it outlives every kill).

``python -m tests.integration.crash.payment_cycles_child DB PORT LIVES``: at start-up it does
what the daemon does (report approvals a kill left unknown, reverse what never started, link
what did), ends the session a kill left open (the EV left meanwhile) and captures what is
priced; it prints ``ready``, then runs paid sessions (pre-authorise, start, stop and price
in one commit, capture) until killed, or, with LIVES 0, exits after the start-up work.
The priced cost of session n is ``cost_minor(n)``; every capture is a settlement in the outbox.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path

from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentStore, SettlementOutbox
from tests.integration.crash.payment_child import PASSWORD, open_session

CONNECTOR = "cp1:1"
RESERVED = Money(Decimal("30.00"), Currency.of("EUR"))


def cost_minor(local_id: int) -> int:
    """What session ``local_id`` costs incl. tax: some above the 30.00 reserved (capped)."""
    return 1000 + 211 * local_id


def energy_wh(local_id: int) -> int:
    return 2000 + 100 * local_id


async def end_open_sessions(db: Database, at_s: float) -> None:
    """The open session stops and is priced in one commit, as the session side does it."""

    def job(conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT local_id, meter_start_wh FROM sessions WHERE stop_at_s IS NULL"
        ).fetchall()
        for local_id, start_wh in rows:
            total = cost_minor(int(local_id))
            conn.execute(
                "UPDATE sessions SET stop_at_s = ?, meter_stop_wh = ?, stop_reason = 'Local'"
                " WHERE local_id = ?",
                (at_s, int(start_wh) + energy_wh(int(local_id)), local_id),
            )
            conn.execute(
                "INSERT INTO session_costs (session_local_id, currency, total_excl_tax_minor,"
                " total_incl_tax_minor, breakdown, priced_at_s) VALUES (?, 'EUR', ?, ?, '{}', ?)",
                (local_id, total * 100 // 119, total, at_s),
            )

    await db.write(job)


async def life(db_path: Path, port: int, run: bool) -> None:
    db = await Database.open(db_path)
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", port, password=PASSWORD))
    outbox = SettlementOutbox("site", lambda _connector: "site")
    flow = PaymentFlow(TerminalPlace("entrance", RESERVED), terminal, PaymentStore(db, outbox),
                       time.time)  # fmt: skip

    async def start(connector_id: str, token: str) -> int | None:
        return await open_session(db, connector_id, token)

    await flow.report_unknown()
    await flow.reverse_unstarted()
    await end_open_sessions(db, time.time())
    await flow.settle_due()
    print("ready", flush=True)
    while run:
        await flow.pay_and_start(CONNECTOR, start)
        await end_open_sessions(db, time.time())
        await flow.settle_due()
    await db.close()


if __name__ == "__main__":
    asyncio.run(life(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] != "0"))
