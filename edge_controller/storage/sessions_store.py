"""Charging sessions and their meter values; each change commits with its outbox messages.

A start, a sample or a stop and the uplink messages it causes share one transaction: either
both are durable or neither is, so a crash can neither lose nor duplicate a message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_controller.storage.database import Database
from edge_controller.storage.errors import StorageError
from edge_controller.storage.outbox.rows import MessageKind, append_in


class SessionAlreadyOpen(StorageError):
    """The connector already has an open session."""


@dataclass(frozen=True, slots=True)
class MessageToQueue:
    """An uplink message to queue together with a session change."""

    identity: str
    action: str
    payload: dict[str, Any]
    kind: MessageKind = "other"


@dataclass(frozen=True, slots=True)
class StopFacts:
    """When a session stopped and its energy register then, as recorded."""

    at_s: float
    meter_wh: int


Render = Callable[[StopFacts], tuple[MessageToQueue, ...]]


@dataclass(frozen=True, slots=True)
class SessionStart:
    connector_id: str
    id_tag: str
    at_s: float
    meter_wh: int
    parent_id_tag: str | None = None
    source: str = "local"
    authorized_offline: bool = False
    energy_cap_wh: int | None = None
    messages: tuple[MessageToQueue, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class SessionRecord:
    local_id: int
    connector_id: str
    id_tag: str
    parent_id_tag: str | None
    start_at_s: float
    meter_start_wh: int
    last_meter_wh: int
    last_meter_at_s: float
    stop_at_s: float | None
    meter_stop_wh: int | None
    stop_reason: str | None
    stop_id_tag: str | None
    source: str
    authorized_offline: bool
    energy_cap_wh: int | None
    remote_transaction_id: int | None

    @property
    def open(self) -> bool:
        return self.stop_at_s is None

    @property
    def energy_wh(self) -> int:
        return (self.meter_stop_wh or self.last_meter_wh) - self.meter_start_wh


@dataclass(frozen=True, slots=True)
class MeterValueRecord:
    session_local_id: int
    at_s: float
    energy_wh: int
    power_w: float | None
    context: str


_SELECT = """
SELECT s.*, t.remote_transaction_id FROM sessions AS s
LEFT JOIN transaction_ids AS t ON t.session_local_id = s.local_id
"""


def _record(row: sqlite3.Row) -> SessionRecord:
    values = {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row needs keys()
    values["authorized_offline"] = bool(values["authorized_offline"])
    return SessionRecord(**values)


def _queue(
    conn: sqlite3.Connection, local_id: int, at_s: float, messages: tuple[MessageToQueue, ...]
) -> None:
    for m in messages:
        append_in(
            conn, m.identity, m.action, m.payload,
            now_s=at_s, kind=m.kind, session_local_id=local_id,
        )  # fmt: skip


def _fetch(conn: sqlite3.Connection, local_id: int) -> SessionRecord:
    cursor = conn.execute(_SELECT + " WHERE s.local_id = ?", (local_id,))
    row = cursor.fetchone()
    if row is None:
        raise KeyError(f"no session {local_id}")
    return _record(row)


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self, start: SessionStart) -> SessionRecord:
        """Record a new open session (and its StartTransaction); durable when it returns."""

        def job(conn: sqlite3.Connection) -> SessionRecord:
            try:
                cursor = conn.execute(
                    "INSERT INTO sessions (connector_id, id_tag, parent_id_tag, start_at_s,"
                    " meter_start_wh, last_meter_wh, last_meter_at_s, source,"
                    " authorized_offline, energy_cap_wh) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        start.connector_id, start.id_tag, start.parent_id_tag, start.at_s,
                        start.meter_wh, start.meter_wh, start.at_s, start.source,
                        int(start.authorized_offline), start.energy_cap_wh,
                    ),
                )  # fmt: skip
            except sqlite3.IntegrityError as exc:
                raise SessionAlreadyOpen(f"{start.connector_id} already has a session") from exc
            local_id = cursor.lastrowid
            assert local_id is not None
            conn.execute(
                "INSERT INTO meter_values (session_local_id, at_s, energy_wh, context)"
                " VALUES (?, ?, ?, 'Transaction.Begin')",
                (local_id, start.at_s, start.meter_wh),
            )
            _queue(conn, local_id, start.at_s, start.messages)
            return _fetch(conn, local_id)

        return await self._db.write(job)

    async def sample(
        self,
        local_id: int,
        at_s: float,
        energy_wh: int | None,
        *,
        power_w: float | None = None,
        context: str = "Sample.Periodic",
        messages: tuple[MessageToQueue, ...] = (),
    ) -> bool:
        """Record a meter value of an open session; False (nothing recorded) if it is closed
        or ``at_s`` lies before its start (a value from before the transaction is not its).

        The register and its time become the session's last known ones (never lower than
        before): a session closed after a power loss stops there. ``energy_wh`` None: the
        messages are queued, the register is unknown and stays as it was."""

        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE sessions SET last_meter_wh = max(last_meter_wh, coalesce(?, 0)),"
                " last_meter_at_s = CASE WHEN ? IS NULL THEN last_meter_at_s"
                " ELSE max(last_meter_at_s, ?) END"
                " WHERE local_id = ? AND stop_at_s IS NULL AND start_at_s <= ?",
                (energy_wh, energy_wh, at_s, local_id, at_s),
            )
            if cursor.rowcount != 1:
                return False
            if energy_wh is not None:
                conn.execute(
                    "INSERT INTO meter_values (session_local_id, at_s, energy_wh, power_w,"
                    " context) VALUES (?, ?, ?, ?, ?)",
                    (local_id, at_s, energy_wh, power_w, context),
                )
            _queue(conn, local_id, at_s, messages)
            return True

        return await self._db.write(job)

    async def stop(
        self,
        local_id: int,
        at_s: float,
        meter_wh: int,
        reason: str,
        *,
        stop_id_tag: str | None = None,
        last_known: bool = False,
        render: Render | None = None,
        messages: tuple[MessageToQueue, ...] = (),
    ) -> tuple[SessionRecord, bool]:
        """Close a session exactly once; returns (record, whether this call closed it).

        The stop is never before nor below the last recorded value. ``last_known`` (a power
        loss: nobody can say when the EV left): the stop is the last recorded register at its
        time. ``render`` builds the messages from the stop as recorded (time, register);
        without it ``messages`` are queued as given."""

        def job(conn: sqlite3.Connection) -> tuple[SessionRecord, bool]:
            row = conn.execute(
                "SELECT last_meter_wh, last_meter_at_s FROM sessions"
                " WHERE local_id = ? AND stop_at_s IS NULL",
                (local_id,),
            ).fetchone()
            if row is None:
                return _fetch(conn, local_id), False
            last_wh, last_at_s = int(row[0]), float(row[1])
            stop = StopFacts(last_at_s, last_wh) if last_known else (
                StopFacts(max(at_s, last_at_s), max(meter_wh, last_wh))
            )  # fmt: skip
            conn.execute(
                "UPDATE sessions SET stop_at_s = ?, meter_stop_wh = ?, last_meter_wh = ?,"
                " last_meter_at_s = ?, stop_reason = ?, stop_id_tag = ? WHERE local_id = ?",
                (stop.at_s, stop.meter_wh, stop.meter_wh, stop.at_s, reason, stop_id_tag,
                 local_id),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO meter_values (session_local_id, at_s, energy_wh, context)"
                " VALUES (?, ?, ?, 'Transaction.End')",
                (local_id, stop.at_s, stop.meter_wh),
            )
            _queue(conn, local_id, stop.at_s, render(stop) if render is not None else messages)
            return _fetch(conn, local_id), True

        return await self._db.write(job)

    async def get(self, local_id: int) -> SessionRecord | None:
        def job(conn: sqlite3.Connection) -> SessionRecord | None:
            try:
                return _fetch(conn, local_id)
            except KeyError:
                return None

        return await self._db.read(job)

    async def open_sessions(self) -> list[SessionRecord]:
        return await self._select(" WHERE s.stop_at_s IS NULL ORDER BY s.local_id", ())

    async def recent(self, limit: int = 50) -> list[SessionRecord]:
        return await self._select(" ORDER BY s.local_id DESC LIMIT ?", (limit,))

    async def meter_values(self, local_id: int) -> list[MeterValueRecord]:
        def job(conn: sqlite3.Connection) -> list[MeterValueRecord]:
            cursor = conn.execute(
                "SELECT session_local_id, at_s, energy_wh, power_w, context FROM meter_values"
                " WHERE session_local_id = ? ORDER BY id",
                (local_id,),
            )
            return [MeterValueRecord(*row) for row in cursor.fetchall()]

        return await self._db.read(job)

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[SessionRecord]:
        def job(conn: sqlite3.Connection) -> list[SessionRecord]:
            cursor = conn.execute(_SELECT + where, params)
            return [_record(row) for row in cursor.fetchall()]

        return await self._db.read(job)
