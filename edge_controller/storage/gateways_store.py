"""What a parent gateway's children last said they fall back to (one row per child), so a
parent that restarts while a child is cut off counts it as before (``domain.gateways``)."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Collection, Mapping

from edge_controller.domain.gateways import Fallbacks
from edge_controller.domain.model import Phases3
from edge_controller.log import get_logger
from edge_controller.storage.database import Database

log = get_logger("storage")


class GatewayStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def fallbacks(self) -> dict[str, Fallbacks]:
        """What each child said, by child; a row that does not read as currents (written by
        hand, or damaged) is logged and left out: that child counts as never heard."""

        def job(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
            return conn.execute(
                "SELECT child_id, own_safe_a, fallback_a, failsafe_a FROM gateway_children"
            ).fetchall()

        said: dict[str, Fallbacks] = {}
        for cid, own_a, now_a, failsafe in await self._db.read(job):
            try:
                said[str(cid)] = Fallbacks(
                    _current(own_a), None if now_a is None else _current(now_a), _phases(failsafe)
                )
            except (ValueError, TypeError) as exc:
                log.error(
                    "a gateway child's kept row is malformed: left out",
                    child=str(cid)[:64],
                    error=str(exc)[:200],
                )
        return said

    async def forget(self, child_ids: Collection[str]) -> None:
        """Drop what these children said (no longer children of this parent)."""
        ids = [(cid,) for cid in child_ids]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM gateway_children WHERE child_id = ?", ids)

        await self._db.write(job)

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
    values = json.loads(str(text))
    if not isinstance(values, list):
        raise ValueError(f"not a list of three currents: {str(text)[:40]!r}")
    a, b, c = (_current(v) for v in values)
    return (a, b, c)


def _current(value: object) -> float:
    """A kept current: a finite number of amperes, not negative."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a current: {str(value)[:40]!r}")
    current_a = float(value)
    if not math.isfinite(current_a) or current_a < 0:
        raise ValueError(f"not a current: {str(value)[:40]!r}")
    return current_a
