"""Card terminal benchmark: paying at the terminal against tapping an RFID card, on the real
session side, SQLite in a temp dir and the simulated ZVT terminal over TCP (answering at once).

- present -> offered: from the card (RFID tap, or the pay command with the terminal's
  approval) to the charger being allowed to offer current, the EV already plugged in;
- unplug -> settled: from the EV unplugged to the session's stop committed and priced (RFID), or
  to the capture of its priced cost confirmed by the terminal and stored (card). The daemon
  looks for priced sessions every ``poll_s`` (1 s); here every 2 ms, so the figure is the work,
  not the wait.

Ratios compare runs made in the same process, one after the other.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from edge_controller.app.commands import CommandPort
from edge_controller.domain.commands import Origin, PayAtTerminal
from edge_controller.domain.model import ChargerStatus, CpState, MeterReading, Token
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.services.sessions.setup import build_session_manager
from edge_controller.sim.zvt_terminal import SimulatedZvtTerminal
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentStore
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.storage.tariff_store import SITE, TariffStore

ROUNDS = 30
TAG = "AABBCCDD"
PASSWORD = 112233
CID = "cp1:1"
TARIFF = {"id": "t", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.40"}]}}
PLUGGED = ChargerStatus(CpState.C, True, 16.0)
UNPLUGGED = ChargerStatus(CpState.A, True, 16.0)


class _Meter:
    def __init__(self) -> None:
        self.energy_wh = 1000.0

    async def read(self) -> MeterReading:
        self.energy_wh += 500.0
        return MeterReading((230.0,) * 3, (16.0,) * 3, (3680.0,) * 3, 11040.0, self.energy_wh,
                            0.0, 0.0)  # fmt: skip


class _Gate:
    """The charger side: notes when a connector may offer current."""

    def __init__(self) -> None:
        self.allowed = asyncio.Event()

    def authorize_charging(self, connector_id: str, allowed: bool) -> None:
        del connector_id
        if allowed:
            self.allowed.set()


@dataclass
class _Rig:
    db: Database
    manager: SessionManager
    gate: _Gate
    flow: PaymentFlow
    commands: CommandPort


@asynccontextmanager
async def _rig(terminal: SimulatedZvtTerminal) -> AsyncIterator[_Rig]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "edge.db")
        try:
            await AuthStore(db).replace_local_list(1, [AuthEntry(TAG, AuthStatus.ACCEPTED)])
            pricing = SessionPricing(TariffStore(db), ZoneInfo("UTC"))
            await pricing.apply_config({SITE: TARIFF})
            gate = _Gate()
            manager = build_session_manager(db, [CID], gate, {CID: _Meter()}, pricing=pricing)
            await manager.recover()
            zvt = ZvtTerminal(ZvtSettings("127.0.0.1", terminal.port, password=PASSWORD))
            place = TerminalPlace("t1", Money(Decimal("50.00"), Currency.of("EUR")))
            flow = PaymentFlow(place, zvt, PaymentStore(db), time.time)
            commands = CommandPort(cast(Any, None), manager, {CID: flow})
            async with asyncio.TaskGroup() as group:
                worker = group.create_task(manager.run(0.01))
                yield _Rig(db, manager, gate, flow, commands)
                worker.cancel()
        finally:
            await db.close()


async def _stopped(rig: _Rig, local_id: int) -> None:
    store = SessionStore(rig.db)
    while True:
        record = await store.get(local_id)
        if record is not None and record.stop_at_s is not None:
            return
        await asyncio.sleep(0.002)


async def _one(rig: _Rig, paid: bool) -> tuple[float, float]:
    rig.gate.allowed.clear()
    await rig.manager.on_charger_status(CID, PLUGGED)
    started = time.perf_counter()
    if paid:
        result = await rig.commands.decide(PayAtTerminal(CID, Origin.MQTT))
        assert result.ok, result.error
    else:
        await rig.manager.on_token(Token(TAG), CID)
    await rig.gate.allowed.wait()
    offered_s = time.perf_counter() - started
    session = rig.manager.open_session(CID)
    assert session is not None
    await asyncio.sleep(0.02)  # a little charging
    started = time.perf_counter()
    await rig.manager.on_charger_status(CID, UNPLUGGED)
    if paid:
        while not await rig.flow.settle_due():  # noqa: ASYNC110 - the daemon polls it too
            await asyncio.sleep(0.002)
    else:
        await _stopped(rig, session.local_id)
    return offered_s, time.perf_counter() - started


async def _flows(paid: bool) -> tuple[list[float], list[float]]:
    terminal = SimulatedZvtTerminal(password=PASSWORD)
    await terminal.start()
    try:
        async with _rig(terminal) as rig:
            runs = [await _one(rig, paid) for _ in range(ROUNDS)]
        if paid:
            assert len(terminal.ledger.captures) == ROUNDS
    finally:
        await terminal.stop()
    return [r[0] for r in runs], [r[1] for r in runs]


def _row(case: str, samples: list[float], base: list[float]) -> dict[str, Any]:
    median = statistics.median(samples)
    return {
        "case": case,
        "median_ms": round(median * 1000, 2),
        "p90_ms": round(statistics.quantiles(samples, n=10)[8] * 1000, 2),
        "ratio_to_rfid": round(median / statistics.median(base), 2),
    }


def run() -> list[dict[str, Any]]:
    asyncio.run(_flows(paid=False))  # warm-up: imports, first database, caches
    rfid_offer, rfid_end = asyncio.run(_flows(paid=False))
    card_offer, card_end = asyncio.run(_flows(paid=True))
    return [
        _row("present -> offered, RFID card", rfid_offer, rfid_offer),
        _row("present -> offered, bank card at terminal", card_offer, rfid_offer),
        _row("unplug -> stop priced, RFID card", rfid_end, rfid_end),
        _row("unplug -> capture confirmed, bank card", card_end, rfid_end),
    ]
