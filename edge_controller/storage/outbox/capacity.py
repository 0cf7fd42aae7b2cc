"""Outbox capacity: warn long before the limit; at the limit, thin intermediate samples only.

Starts, stops and final meter values are never dropped; thinning removes every second
pending ``sample`` message, oldest first, and counts what it removed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge_controller.log import get_logger

log = get_logger("storage.outbox")

# 7 days of a 24-connector site sampling every minute is ~242,000 messages; keep head-room.
DEFAULT_CAPACITY = 600_000
DEFAULT_WARN_FRACTION = 0.25  # 150,000 pending: about 4 days offline


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    parked: int
    thinned: int
    capacity: int
    near_capacity: bool
    """True once the backlog passed the warning level; operators should look at the uplink."""


def count_pending(conn: sqlite3.Connection, identity: str | None = None) -> int:
    if identity is None:
        cursor = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'")
    else:
        cursor = conn.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending' AND identity = ?", (identity,)
        )
    row = cursor.fetchone()
    return int(row[0]) if row is not None else 0


def count_parked(conn: sqlite3.Connection) -> int:
    """Messages the CSMS refused past their attempts, kept for an operator."""
    row = conn.execute("SELECT count(*) FROM outbox WHERE state = 'parked'").fetchone()
    return int(row[0]) if row is not None else 0


def read_counter(conn: sqlite3.Connection, name: str) -> int:
    cursor = conn.execute("SELECT value FROM outbox_stats WHERE name = ?", (name,))
    row = cursor.fetchone()
    return int(row[0]) if row is not None else 0


def thin_samples(conn: sqlite3.Connection) -> int:
    """Drop every second pending intermediate sample (inside the caller's transaction)."""
    cursor = conn.execute(
        """
        DELETE FROM outbox WHERE seq IN (
            SELECT seq FROM (
                SELECT seq, row_number() OVER (ORDER BY seq) AS n
                FROM outbox WHERE state = 'pending' AND kind = 'sample'
            ) WHERE n % 2 = 0
        )
        """
    )
    removed = max(cursor.rowcount, 0)
    conn.execute(
        "INSERT INTO outbox_stats (name, value) VALUES ('thinned', ?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        (removed,),
    )
    return removed


class CapacityWatch:
    """Decides when to warn and when to thin; checked every ``check_every`` appends."""

    def __init__(self, capacity: int, warn_fraction: float, check_every: int = 1000) -> None:
        if capacity < 1 or not 0 < warn_fraction < 1:
            raise ValueError("capacity must be positive and warn_fraction within (0, 1)")
        self.capacity = capacity
        self.warn_level = int(capacity * warn_fraction)
        self.check_every = check_every
        self.near_capacity = False
        self._since_check = check_every  # check on the first append after start-up

    def due(self) -> bool:
        self._since_check += 1
        return self._since_check >= self.check_every

    def check(self, conn: sqlite3.Connection) -> None:
        self._since_check = 0
        pending = count_pending(conn)
        self.observe(pending)
        if pending >= self.capacity:
            removed = thin_samples(conn)
            log.error(
                "outbox full: thinned intermediate meter values",
                pending=pending,
                removed=removed,
                capacity=self.capacity,
            )

    def observe(self, pending: int) -> None:
        near = pending >= self.warn_level
        if near and not self.near_capacity:
            log.warning(
                "outbox backlog is large; is the uplink down?",
                pending=pending,
                warn_level=self.warn_level,
                capacity=self.capacity,
            )
        elif not near and self.near_capacity:
            log.info("outbox backlog back below warning level", pending=pending)
        self.near_capacity = near
