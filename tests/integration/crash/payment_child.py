"""One life of the paid-session crash test: a payment flow on the database, talking to the
simulated terminal that the test runs (and that outlives every kill).

``python -m tests.integration.crash.payment_child DB PORT STEP``, STEP one of:
- ``pay-hang``: pre-authorise, then hang where the session would start (killed there);
- ``pay-start-hang``: pre-authorise, open the session with the payment's token, hang before the
  payment is marked started (killed there);
- ``approve-hang``: pre-authorise, and hang once the terminal approved, before the approval is
  stored (killed there);
- ``pay``: pre-authorise and start the session, then exit;
- ``recover``: what the daemon does at start-up (report approvals a kill left unknown,
  reverse what never started, link what did, capture what is priced), then exit.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path

from edge_controller.domain.payments import PaymentAuthorisation
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentStore

PASSWORD = 246810
CONNECTOR = "cp1:1"


async def open_session(db: Database, connector_id: str, token: str) -> int:
    def job(conn: sqlite3.Connection) -> int:
        cursor = conn.execute(
            "INSERT INTO sessions (connector_id, id_tag, start_at_s, meter_start_wh,"
            " last_meter_wh, last_meter_at_s) VALUES (?, ?, 0, 1000, 1000, 0)",
            (connector_id, token),
        )
        return int(cursor.lastrowid or 0)

    return await db.write(job)


class HangingAfterApproval(ZvtTerminal):
    """The real ZVT driver, stuck once the terminal approved (the kill comes then)."""

    async def pre_authorise(self, amount: Money) -> PaymentAuthorisation:
        await super().pre_authorise(amount)
        await asyncio.Event().wait()
        raise AssertionError("killed before")


async def life(db_path: Path, port: int, step: str) -> None:
    db = await Database.open(db_path)
    kind = HangingAfterApproval if step == "approve-hang" else ZvtTerminal
    terminal = kind(ZvtSettings("127.0.0.1", port, password=PASSWORD))
    place = TerminalPlace("entrance", Money(Decimal("30.00"), Currency.of("EUR")))
    flow = PaymentFlow(place, terminal, PaymentStore(db), time.time)
    hang = asyncio.Event()  # never set: the test kills the process while it waits

    async def start(connector_id: str, token: str) -> int | None:
        if step == "pay-hang":
            await hang.wait()
        local_id = await open_session(db, connector_id, token)
        if step == "pay-start-hang":
            await hang.wait()
        return local_id

    if step == "recover":
        await flow.report_unknown()
        await flow.reverse_unstarted()
        await flow.settle_due()
    else:
        await flow.pay_and_start(CONNECTOR, start)
    await db.close()


if __name__ == "__main__":
    asyncio.run(life(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
