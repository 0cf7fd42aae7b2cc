"""What a parent gateway's children last said they fall back to (one row per child), so a
parent that restarts while a child is cut off counts it as before (``domain.gateways``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from edge_controller.domain.gateways import Fallbacks
from edge_controller.domain.model import Phases3
from edge_controller.storage.database import Database


class GatewayStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def fallbacks(self) -> dict[str, Fallbacks]:
        def job(conn: sqlite3.Connection) -> dict[str, Fallbacks]:
            rows = conn.execute(
                "SELECT child_id, own_safe_a, fallback_a, failsafe_a FROM gateway_children"
            ).fetchall()
            return {
                str(cid): Fallbacks(
                    float(own_a), None if now_a is None else float(now_a), _phases(failsafe)
                )
                for cid, own_a, now_a, failsafe in rows
            }

        return await self._db.read(job)

    async def put(self, said: Mapping[str, Fallbacks], at_s: float) -> None:
        """Keep what these children said (each replaces what it said before)."""
        rows = [
            (
                cid,
                f.own_a,
                f.now_a,
                None if f.failsafe_a is None else json.dumps(f.failsafe_a),
                at_s,
            )
            for cid, f in said.items()
        ]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO gateway_children"
                " (child_id, own_safe_a, fallback_a, failsafe_a, reported_at_s)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

        await self._db.write(job)


def _phases(text: object) -> Phases3 | None:
    """A fail-safe draw kept as a JSON list of three currents (NULL: the child did not say)."""
    if text is None:
        return None
    a, b, c = (float(v) for v in json.loads(str(text)))
    return (a, b, c)
