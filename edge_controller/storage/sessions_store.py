"""Charging sessions and their meter values; each change commits with its outbox events.

A start, a sample or a stop and the events it gives the uplink share one transaction: either
both are durable or neither is, so a crash can neither lose nor duplicate what the CSMS hears.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_controller.domain.commands import TransactionLimit
from edge_controller.domain.sessions.events import OutboxEvent, ReadingContext
from edge_controller.storage.database import Database
from edge_controller.storage.errors import StorageError
from edge_controller.storage.limits_store import open_limits, set_limit_in
from edge_controller.storage.outbox.rows import append_in
from edge_controller.storage.plugs_store import PlugStore, go_on_in, join_in
from edge_controller.storage.tariff_store import SessionSwitch, session_switches


class SessionAlreadyOpen(StorageError):
    """The connector already has an open session."""


@dataclass(frozen=True, slots=True)
class EventToQueue:
    """An outbox event for the uplink ``identity``, queued together with a session change."""

    identity: str
    event: OutboxEvent


@dataclass(frozen=True, slots=True)
class StopFacts:
    """When a session stopped and its energy register then, as recorded."""

    at_s: float
    meter_wh: int


Render = Callable[[StopFacts], tuple[EventToQueue, ...]]
Announce = Callable[[int], tuple[EventToQueue, ...]]
"""The events of a new session, given the local id it was recorded under."""


@dataclass(frozen=True, slots=True)
class TariffRef:
    """The tariff that prices a session: id, version (``tariffs`` table) and who gave it."""

    tariff_id: str
    version: int
    source: str


@dataclass(frozen=True, slots=True)
class PricedCost:
    """A session's final cost as the pricing computed it (minor units of ``currency``)."""

    currency: str
    total_excl_tax_minor: int
    total_incl_tax_minor: int
    breakdown: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PricingInput:
    """What a closed session is priced from: its record, its recorded register readings and
    the stored tariff JSON that priced it."""

    record: SessionRecord
    readings: tuple[MeterValueRecord, ...]
    tariff_body: dict[str, Any]
    # (currency, minor units) the card holder pre-authorised for it: the session costs no more
    paid_limit: tuple[str, int] | None = None
    # Its tariff changed while it ran (2.1 ChangeTransactionTariff), in the order made.
    switches: tuple[SessionSwitch, ...] = ()


Price = Callable[[PricingInput], PricedCost | None]


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
    announce: Announce | None = field(default=None)
    tariff: TariffRef | None = None
    joins: int | None = None  # the plug-in transaction it joins: recorded under its local id


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
    tariff_id: str | None = None
    tariff_version: int | None = None
    tariff_source: str | None = None

    @property
    def tariff(self) -> TariffRef | None:
        if self.tariff_id is None or self.tariff_version is None:
            return None
        return TariffRef(self.tariff_id, self.tariff_version, self.tariff_source or "")

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
    context: ReadingContext


_SELECT = """
SELECT s.*, t.remote_transaction_id FROM sessions AS s
LEFT JOIN transaction_ids AS t ON t.session_local_id = s.local_id
"""


def _record(row: sqlite3.Row) -> SessionRecord:
    values = {key: row[key] for key in row.keys()}  # noqa: SIM118 - sqlite3.Row needs keys()
    values["authorized_offline"] = bool(values["authorized_offline"])
    return SessionRecord(**values)


def _queue(conn: sqlite3.Connection, at_s: float, events: tuple[EventToQueue, ...]) -> None:
    for queued in events:
        append_in(conn, queued.identity, queued.event, now_s=at_s)


def _tariff_columns(ref: TariffRef | None) -> tuple[str | None, int | None, str | None]:
    return (None, None, None) if ref is None else (ref.tariff_id, ref.version, ref.source)


def _readings(conn: sqlite3.Connection, local_id: int) -> list[MeterValueRecord]:
    cursor = conn.execute(
        "SELECT session_local_id, at_s, energy_wh, power_w, context FROM meter_values"
        " WHERE session_local_id = ? ORDER BY id",
        (local_id,),
    )
    return [
        MeterValueRecord(local, at_s, energy_wh, power_w, ReadingContext(context))
        for local, at_s, energy_wh, power_w, context in cursor.fetchall()
    ]


def price_in(conn: sqlite3.Connection, local_id: int, price: Price, at_s: float) -> bool:
    """Price a closed session with ``price`` and keep the cost, once (True when kept now).

    A session without a tariff, already priced, or that ``price`` cannot price (None) keeps
    no cost; its stop stands either way."""
    record = _fetch(conn, local_id)
    ref = record.tariff
    if record.open or ref is None:
        return False
    if conn.execute(
        "SELECT 1 FROM session_costs WHERE session_local_id = ?", (local_id,)
    ).fetchone():
        return False
    tariff = conn.execute(
        "SELECT body FROM tariffs WHERE tariff_id = ? AND version = ?", (ref.tariff_id, ref.version)
    ).fetchone()
    if tariff is None:
        return False
    data = PricingInput(
        record, tuple(_readings(conn, local_id)), json.loads(tariff[0]),
        _paid_limit(conn, record), tuple(session_switches(conn, local_id)),
    )  # fmt: skip
    found = price(data)
    if found is None:
        return False
    conn.execute(
        "INSERT INTO session_costs (session_local_id, currency, total_excl_tax_minor,"
        " total_incl_tax_minor, breakdown, priced_at_s) VALUES (?, ?, ?, ?, ?, ?)",
        (local_id, found.currency, found.total_excl_tax_minor, found.total_incl_tax_minor,
         json.dumps(found.breakdown, separators=(",", ":")), at_s),
    )  # fmt: skip
    return True


def _paid_limit(conn: sqlite3.Connection, record: SessionRecord) -> tuple[str, int] | None:
    """What the card payment of this session allowed (linked, or a session started with its
    token whose link a crash cut)."""
    row = conn.execute(
        "SELECT currency, authorised_minor FROM payments WHERE session_local_id = ?"
        " OR (session_local_id IS NULL AND token = ? AND connector_id = ?)",
        (record.local_id, record.id_tag, record.connector_id),
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def _fetch(conn: sqlite3.Connection, local_id: int) -> SessionRecord:
    cursor = conn.execute(_SELECT + " WHERE s.local_id = ?", (local_id,))
    row = cursor.fetchone()
    if row is None:
        raise KeyError(f"no session {local_id}")
    return _record(row)


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.plugs = PlugStore(db)  # transactions begun at a plug-in, before their session

    async def start(self, start: SessionStart) -> SessionRecord:
        """Record a new open session (and the events ``announce`` gives for it); durable when
        it returns."""

        def job(conn: sqlite3.Connection) -> SessionRecord:
            try:
                cursor = conn.execute(
                    "INSERT INTO sessions (local_id, connector_id, id_tag, parent_id_tag,"
                    " start_at_s, meter_start_wh, last_meter_wh, last_meter_at_s, source,"
                    " authorized_offline, energy_cap_wh, tariff_id, tariff_version,"
                    " tariff_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        start.joins, start.connector_id, start.id_tag, start.parent_id_tag,
                        start.at_s, start.meter_wh, start.meter_wh, start.at_s, start.source,
                        int(start.authorized_offline), start.energy_cap_wh,
                        *(_tariff_columns(start.tariff)),
                    ),
                )  # fmt: skip
            except sqlite3.IntegrityError as exc:
                raise SessionAlreadyOpen(f"{start.connector_id} already has a session") from exc
            local_id = cursor.lastrowid
            assert local_id is not None
            if start.joins is not None:
                join_in(conn, start.joins, start.at_s)
            conn.execute(
                "INSERT INTO meter_values (session_local_id, at_s, energy_wh, context)"
                " VALUES (?, ?, ?, ?)",
                (local_id, start.at_s, start.meter_wh, ReadingContext.BEGIN.value),
            )
            if start.announce is not None:
                _queue(conn, start.at_s, start.announce(local_id))
            return _fetch(conn, local_id)

        return await self._db.write(job)

    async def sample(
        self,
        local_id: int,
        at_s: float,
        energy_wh: int | None,
        *,
        power_w: float | None = None,
        context: ReadingContext = ReadingContext.PERIODIC,
        events: tuple[EventToQueue, ...] = (),
    ) -> bool:
        """Record a meter value of an open session; False (nothing recorded) if it is closed
        or ``at_s`` lies before its start (a value from before the transaction is not its).

        The register and its time become the session's last known ones (never lower than
        before): a session closed after a power loss stops there. ``energy_wh`` None: the
        events are queued, the register is unknown and stays as it was."""

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
                    (local_id, at_s, energy_wh, power_w, context.value),
                )
            _queue(conn, at_s, events)
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
        price: Price | None = None,
        goes_on: bool = False,
    ) -> tuple[SessionRecord, bool]:
        """Close a session exactly once; returns (record, whether this call closed it).
        ``goes_on``: its transaction goes on after it (``plugs_store.go_on_in``).

        The stop is never before nor below the last recorded value. ``last_known`` (a power
        loss: nobody can say when the EV left): the stop is the last recorded register at its
        time. ``render`` builds the events from the stop as recorded (time, register).
        ``price`` prices the session as stopped, in the same transaction (see ``price_in``)."""

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
                " VALUES (?, ?, ?, ?)",
                (local_id, stop.at_s, stop.meter_wh, ReadingContext.END.value),
            )
            if render is not None:
                _queue(conn, stop.at_s, render(stop))
            if price is not None:
                price_in(conn, local_id, price, stop.at_s)
            closed = _fetch(conn, local_id)
            if goes_on:
                go_on_in(conn, local_id, closed.connector_id, stop.at_s)
            return closed, True

        return await self._db.write(job)

    async def get(self, local_id: int) -> SessionRecord | None:
        def job(conn: sqlite3.Connection) -> SessionRecord | None:
            try:
                return _fetch(conn, local_id)
            except KeyError:
                return None

        return await self._db.read(job)

    async def set_limit(self, local_id: int, limit: TransactionLimit, at_s: float) -> bool:
        """Keep a CSMS's limit with an open session; False: no such open session."""
        return await self._db.write(lambda conn: set_limit_in(conn, local_id, limit, at_s))

    async def limits_of_open(self) -> dict[int, TransactionLimit]:
        """The limits of the sessions still open, by local id."""
        return await self._db.read(open_limits)

    async def open_sessions(self) -> list[SessionRecord]:
        return await self._select(" WHERE s.stop_at_s IS NULL ORDER BY s.local_id", ())

    async def by_remote_transaction(self, transaction_id: int) -> SessionRecord | None:
        """The session the CSMS knows by ``transaction_id`` (the latest, should it repeat)."""
        found = await self._select(
            " WHERE t.remote_transaction_id = ? ORDER BY s.local_id DESC LIMIT 1", (transaction_id,)
        )
        return found[0] if found else None

    async def recent(self, limit: int = 50) -> list[SessionRecord]:
        return await self._select(" ORDER BY s.local_id DESC LIMIT ?", (limit,))

    async def meter_values(self, local_id: int) -> list[MeterValueRecord]:
        return await self._db.read(lambda conn: _readings(conn, local_id))

    async def price_unpriced(self, price: Price, at_s: float) -> int:
        """Price every closed session with a tariff and no cost yet (one whose pricing failed
        or was cut short); how many were priced."""

        def job(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT s.local_id FROM sessions AS s LEFT JOIN session_costs AS c"
                " ON c.session_local_id = s.local_id WHERE s.stop_at_s IS NOT NULL"
                " AND s.tariff_id IS NOT NULL AND c.session_local_id IS NULL"
            ).fetchall()
            return sum(price_in(conn, int(r[0]), price, at_s) for r in rows)

        return await self._db.write(job)

    async def cost(self, local_id: int) -> PricedCost | None:
        def job(conn: sqlite3.Connection) -> PricedCost | None:
            row = conn.execute(
                "SELECT currency, total_excl_tax_minor, total_incl_tax_minor, breakdown"
                " FROM session_costs WHERE session_local_id = ?",
                (local_id,),
            ).fetchone()
            return None if row is None else PricedCost(row[0], row[1], row[2], json.loads(row[3]))

        return await self._db.read(job)

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[SessionRecord]:
        def job(conn: sqlite3.Connection) -> list[SessionRecord]:
            cursor = conn.execute(_SELECT + where, params)
            return [_record(row) for row in cursor.fetchall()]

        return await self._db.read(job)
