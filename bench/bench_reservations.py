"""Reservation benchmark: what a reservation adds to a session start and to the status view.

Start: plug-in then card on a fresh connector (real SQLite in a temp dir), unreserved versus
reserved for that card (the reserved start also deletes the reservation). View: composing the
status of 100 connectors with no reservation versus half of them reserved. Ratios compare runs
made in the same process, one after the other.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from edge_controller.app.views import ConnectorViews
from edge_controller.domain.commands import Reserve
from edge_controller.domain.model import ChargerStatus, CpState, MeterReading, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.setup import build_session_manager
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database

STARTS = 60
VIEW_CONNECTORS = 100
VIEW_ROUNDS = 300
TAG = "AABBCCDD"


class _Meter:
    async def read(self) -> MeterReading:
        return MeterReading((230.0,) * 3, (0.0,) * 3, (0.0,) * 3, 0.0, 1000.0, 0.0, 0.0)


class _Gate:
    def authorize_charging(self, connector_id: str, allowed: bool) -> None:
        del connector_id, allowed


async def _manager(db: Database, count: int) -> SessionManager:
    ids = [f"cp{n}:1" for n in range(count)]
    await AuthStore(db).replace_local_list(1, [AuthEntry(TAG, AuthStatus.ACCEPTED)])
    manager = build_session_manager(db, ids, _Gate(), {c: _Meter() for c in ids})
    await manager.recover()
    return manager


async def _starts(reserved: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "edge.db")
        try:
            manager = await _manager(db, STARTS)
            plugged = ChargerStatus(CpState.B, True, 16.0)
            samples = []
            for n in range(STARTS):
                cid = f"cp{n}:1"
                if reserved:
                    await manager.on_reservation(Reserve(cid, n + 1, TAG, time.time() + 600))
                started = time.perf_counter()
                await manager.on_charger_status(cid, plugged)
                await manager.on_token(Token(TAG), cid)
                samples.append(time.perf_counter() - started)
            return samples
        finally:
            await db.close()


async def _views(reserved: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "edge.db")
        try:
            manager = await _manager(db, VIEW_CONNECTORS)
            for n in range(reserved):
                await manager.on_reservation(Reserve(f"cp{n}:1", n + 1, TAG, time.time() + 600))
            views = ConnectorViews(cast(Any, None), manager)
            raw = SiteView("site", None, 32.0, None, None, tuple(
                ConnectorView(f"cp{n}:1", Availability.AVAILABLE, 16.0, "")
                for n in range(VIEW_CONNECTORS)
            ))  # fmt: skip
            samples = []
            for _ in range(VIEW_ROUNDS):
                started = time.perf_counter()
                views.join(raw)
                samples.append(time.perf_counter() - started)
            return samples
        finally:
            await db.close()


def _row(case: str, samples: list[float], base: list[float]) -> dict[str, Any]:
    median = statistics.median(samples)
    return {
        "case": case,
        "median_ms": round(median * 1000, 3),
        "p99_ms": round(statistics.quantiles(samples, n=100)[98] * 1000, 3),
        "ratio_to_unreserved": round(median / statistics.median(base), 2),
    }


def run() -> list[dict[str, Any]]:
    asyncio.run(_starts(reserved=False))  # warm-up: imports, first database, caches
    plain = asyncio.run(_starts(reserved=False))
    held = asyncio.run(_starts(reserved=True))
    view_plain = asyncio.run(_views(0))
    view_held = asyncio.run(_views(VIEW_CONNECTORS // 2))
    return [
        _row("start, unreserved", plain, plain),
        _row("start, reserved for the card", held, plain),
        _row(f"compose {VIEW_CONNECTORS} connectors, none reserved", view_plain, view_plain),
        _row(f"compose {VIEW_CONNECTORS} connectors, half reserved", view_held, view_plain),
    ]
