"""One life of the crash-test process: resume from the database, drive the schedule, repeat.

Every session event is written to the events file only after the session manager returned,
i.e. after its commit: anything written there must be found in the database later.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import UTC
from pathlib import Path
from typing import TextIO

from edge_controller.domain.model import MeterReading, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthPolicy, AuthStatus
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.services.sessions.auth import TokenAuthorizer
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.services.sessions.recorder import SessionRecorder
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.storage.tariff_store import SITE, TariffStore
from tests.integration.crash import schedule

IDENTITY = "crash-site"


class VirtualClock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> float:
        return float(self.t)


class ScheduleMeter:
    def __init__(self, index: int, clock: VirtualClock) -> None:
        self._index = index
        self._clock = clock

    async def read(self) -> MeterReading:
        energy = float(schedule.energy_wh(self._index, self._clock.t))
        return MeterReading((230.0,) * 3, (16.0,) * 3, (3680.0,) * 3, 11040.0, energy, 0.0, 0.0)


class Gate:
    def authorize_charging(self, connector_id: str, allowed: bool) -> None:
        del connector_id, allowed


def resume_time(path: Path) -> int:
    """One virtual second after the last recorded fact (never replay a committed step)."""
    conn = sqlite3.connect(path)
    try:
        # A transaction begun before its session (2.x TxStartPoint) is a fact as well.
        row = conn.execute(
            "SELECT max(coalesce((SELECT max(last_meter_at_s) FROM sessions), 0),"
            " coalesce((SELECT max(start_at_s) FROM sessions), 0),"
            " coalesce((SELECT max(plugged_at_s) FROM plug_transactions), 0),"
            " coalesce((SELECT max(closed_at_s) FROM plug_transactions), 0))"
        ).fetchone()
    finally:
        conn.close()
    last = int(row[0] or 0)
    return max(schedule.T0_S, last + 1)


def after_outage(path: Path) -> int:
    """The first virtual second, from ``resume_time`` on, at which the EV of a session left open
    by the kill is gone: the power was off long enough for the driver to leave meanwhile."""
    start = resume_time(path)
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT connector_id FROM sessions WHERE stop_at_s IS NULL").fetchall()
    finally:
        conn.close()
    indexes = [schedule.CONNECTORS.index(row[0]) for row in rows]
    for t in range(start, start + 2 * schedule.CYCLE_S):
        if any(not schedule.status_at(i, t).state.plugged for i in indexes):
            return t
    return start


def route(connector_id: str) -> str:
    del connector_id
    return IDENTITY


# Every session is priced, so a crash at any moment must leave each stopped session priced
# exactly once (a kill between the stop and its cost is impossible: they share a commit).
TARIFF = {
    "id": "crash",
    "currency": "EUR",
    "energy": {
        "prices": [{"price_per_kwh": "0.3333"}],
        "tax_rates": [{"name": "VAT", "percent": "19"}],
    },
    "charging_time": {"prices": [{"price_per_minute": "0.01"}]},
}


async def attach_pricing(recorder: SessionRecorder, db: Database, clock: VirtualClock) -> None:
    """Tariffs and pricing as the daemon starts them (the same config every life)."""
    recorder.pricing = SessionPricing(TariffStore(db), UTC, clock=clock)
    await recorder.pricing.apply_config({SITE: TARIFF})
    await recorder.store.price_unpriced(recorder.pricing.price, clock())


async def _build(db: Database, clock: VirtualClock) -> SessionManager:
    auth_store = AuthStore(db)
    if await auth_store.local_list_version() == 0:
        entries = [AuthEntry(schedule.id_tag(i), AuthStatus.ACCEPTED) for i in range(4)]
        await auth_store.replace_local_list(1, entries)
    meters = {cid: ScheduleMeter(i, clock) for i, cid in enumerate(schedule.CONNECTORS)}
    recorder = SessionRecorder(SessionStore(db), meters, route)
    await attach_pricing(recorder, db, clock)
    auth = TokenAuthorizer(auth_store, None, AuthPolicy())
    return SessionManager(
        schedule.CONNECTORS, recorder, auth, Gate(),
        timeouts=Timeouts(plug_timeout_s=5.0), sampling=Sampling(interval_s=2.0, aligned_s=5.0),
        clock=clock,
    )  # fmt: skip


async def run(db_path: Path, events: TextIO, steps: int | None) -> None:
    db = await Database.open(db_path)
    clock = VirtualClock(resume_time(db_path))
    manager = await _build(db, clock)
    queue = manager.events.subscribe(maxsize=10_000)
    for record in await manager.recover():
        events.write(f"recovered {record.local_id}\n")
    done = 0
    parent = os.getppid()
    while (steps is None or done < steps) and os.getppid() == parent:
        for index, cid in enumerate(schedule.CONNECTORS):
            await manager.on_charger_status(cid, schedule.status_at(index, clock.t))
            if schedule.tap_at(index, clock.t):
                await manager.on_token(Token(schedule.id_tag(index)), cid)
        await manager.tick()
        while not queue.empty():
            e = queue.get_nowait()
            events.write(f"{e.kind} {e.local_id} {e.meter_wh} {e.reason}\n")
        events.flush()
        clock.t += 1
        done += 1
    await manager.shutdown()
    await db.close()


def main(db_path: Path, events_path: Path, steps: int | None) -> None:
    with events_path.open("a", encoding="utf-8") as events:
        asyncio.run(run(db_path, events, steps))
