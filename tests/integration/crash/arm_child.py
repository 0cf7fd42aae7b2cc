"""One life of the self-arming terminal's crash test: the daemon's payment flow and the
terminal's auto-arm service on the database, against the simulated terminal the test runs
(it outlives every kill, and waits for the card the test presents).

``python -m tests.integration.crash.arm_child DB PORT DIR``. The test steers the life through
files in DIR: ``waiting`` names the connectors whose plugged EV waits for authorisation (empty:
the EV left); with ``hang-start`` the session of an approved payment hangs before it opens (the
kill comes there); ``exit`` asks for an orderly stop. The life prints ``ready`` once its
start-up work (report approvals a kill left unknown, reverse what never started, capture what
is priced) is done, then runs both services as the daemon does until killed or asked to stop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path

from edge_controller.domain.commands import CommandResult
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.ports import DeviceError
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.services.payments.auto_arm import AutoArm
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentStore, SettlementOutbox
from tests.integration.crash.payment_child import PASSWORD, open_session

SERVED = ("cp1:1", "cp1:2")
RESERVED = Money(Decimal("30.00"), Currency.of("EUR"))


def open_connectors(db_path: Path) -> frozenset[str]:
    """Connectors with an open session (their EV no longer waits for authorisation)."""
    conn = sqlite3.connect(db_path)
    try:
        found = conn.execute("SELECT connector_id FROM sessions WHERE stop_at_s IS NULL")
        return frozenset(str(row[0]) for row in found.fetchall())
    finally:
        conn.close()


class Steering:
    def __init__(self, db_path: Path, folder: Path) -> None:
        self._db_path, self._folder = db_path, folder

    def waiting(self) -> frozenset[str]:
        named = (self._folder / "waiting").read_text().split()
        return frozenset(named) - open_connectors(self._db_path)

    def flag(self, name: str) -> bool:
        return (self._folder / name).exists()


async def life(db_path: Path, port: int, folder: Path) -> None:
    db = await Database.open(db_path)
    steer = Steering(db_path, folder)
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", port, password=PASSWORD))
    outbox = SettlementOutbox("site", lambda _connector: "site")
    place = TerminalPlace("lobby", RESERVED, poll_s=0.1)
    flow = PaymentFlow(place, terminal, PaymentStore(db, outbox), time.time)

    async def start(connector_id: str, token: str) -> int | None:
        if steer.flag("hang-start"):
            await asyncio.Event().wait()
        if connector_id not in steer.waiting():  # the EV left: nothing opens, it is reversed
            return None
        return await open_session(db, connector_id, token)

    async def pay(connector_id: str) -> CommandResult:
        try:
            await flow.pay_and_start(connector_id, start)
        except DeviceError as exc:
            return CommandResult(False, str(exc))
        return CommandResult(True, None, connector_id)

    await flow.report_unknown()
    await flow.reverse_unstarted()
    await flow.settle_due()
    print("ready", flush=True)
    arm = AutoArm(SERVED, flow, pay, steer.waiting, poll_s=0.05, rearm_s=0.2)
    services = [asyncio.create_task(flow.run()), asyncio.create_task(arm.run())]
    while not steer.flag("exit"):  # noqa: ASYNC110 - the test asks through a file
        await asyncio.sleep(0.05)
    for task in reversed(services):  # the auto-arm first: it takes an armed payment back
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await db.close()


if __name__ == "__main__":
    asyncio.run(life(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
