"""The web faces in the site: what the display needs from the config, and the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from edge_controller.app import outbox_admin, sessions_report
from edge_controller.app.config_report import check_lines
from edge_controller.app.problems import ProblemDesk, UplinkRoute
from edge_controller.config.settings import Settings
from edge_controller.domain.commands import Origin
from edge_controller.domain.latency import Histogram
from edge_controller.domain.pricing import Currency, Money
from edge_controller.domain.sessions.tokens import masked
from edge_controller.domain.snapshot import ErrorEvent
from edge_controller.storage import history
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.telemetry import MqttService
from edge_controller.telemetry.command_parse import CommandParser, Parsed
from edge_controller.web import DisplayHub, DisplaySetup, Sources, StartWay, WebServer, build_app
from edge_controller.web.console_system import ErrorHistory
from edge_controller.web.metrics import BusLatency
from edge_controller.web.ports import SessionFilter

if TYPE_CHECKING:
    from edge_controller.app.core import SiteServices


class SessionHistory:
    """Sessions for the REST API and the console, newest first, id tags masked; receipts as
    the ``sessions receipt`` command makes them."""

    methods = sessions_report.METHODS

    def __init__(self, store: SessionStore, query: sessions_report.Query) -> None:
        self._store, self._query = store, query

    def _selecting(self, wanted: SessionFilter) -> sessions_report.Query:
        return replace(
            self._query, from_date=wanted.from_date, to_date=wanted.to_date,
            connector_id=wanted.connector_id, method=wanted.method, status=wanted.status,
        )  # fmt: skip

    async def listed(self, wanted: SessionFilter, limit: int) -> list[dict[str, Any]]:
        query = self._selecting(wanted)
        return await asyncio.to_thread(sessions_report.newest_rows, query, limit)

    async def export_csv(self, wanted: SessionFilter) -> AsyncGenerator[str, None]:
        # One thread of its own: the report's read-only connection is used where it was made.
        pieces = sessions_report.csv_pieces(self._selecting(wanted))
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export") as own:
            try:
                while (piece := await loop.run_in_executor(own, next, pieces, None)) is not None:
                    yield piece
            finally:
                await loop.run_in_executor(own, pieces.close)

    async def revenue(self, wanted: SessionFilter) -> dict[str, list[dict[str, Any]]]:
        return await asyncio.to_thread(sessions_report.revenue_tables, self._selecting(wanted))

    async def receipt(self, session_id: int) -> dict[str, Any] | None:
        try:
            # The report reads through its own connection: off the event loop.
            return await asyncio.to_thread(sessions_report.receipt, self._query, session_id)
        except sessions_report.NoSuchSession:
            return None

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        return [
            {
                "session_id": r.local_id,
                "connector_id": r.connector_id,
                "id_tag": masked(r.id_tag),
                "start_at_s": r.start_at_s,
                "stop_at_s": r.stop_at_s,
                "energy_wh": r.energy_wh,
                "stop_reason": r.stop_reason,
                "tariff_id": r.tariff_id,
                "tariff_version": r.tariff_version,
            }
            for r in await self._store.recent(limit)
        ]


class OperatorQueue:
    """Parked outbox messages and unknown card payment outcomes for the console, read on the
    daemon's own connection; a requeue wakes the uplink's sender (as the status socket's)."""

    def __init__(self, db: Database, outbox: Outbox, wake: Callable[[], None]) -> None:
        self._db, self._outbox, self._wake = db, outbox, wake

    async def parked(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.read(lambda conn: history.parked_messages(conn, limit))
        return [
            {
                "seq": r.seq,
                "identity": r.identity,
                "event": r.event or r.kind,
                "session_id": r.session_local_id,
                "queued_at": outbox_admin.utc(r.created_at_s),
                "attempts": r.attempts,
                "last_error": r.last_error,
            }
            for r in rows
        ]

    async def unknown_payments(self) -> list[dict[str, Any]]:
        return [
            {
                "terminal_id": i.terminal_id,
                "connector_id": i.connector_id,
                "amount": str(Money.of_minor(i.amount_minor, Currency.of(i.currency)).amount),
                "currency": i.currency,
                "at": outbox_admin.utc(i.at_s),
            }
            for i in await self._db.read(history.unknown_intents)
        ]

    async def requeue(self, seq: int | None) -> list[int]:
        seqs = await outbox_admin.requeue(self._outbox, seq)
        if seqs:
            self._wake()
        return seqs


def connector_limits(settings: Settings, connector_ids: list[str]) -> dict[str, Any]:
    """Each connector's configured current range."""
    found = {}
    for cid in connector_ids:
        charger = settings.chargers[cid.rsplit(":", 1)[0]]
        found[cid] = {
            "min_current_a": charger.min_current_a,
            "max_current_a": charger.max_current_a,
        }
    return found


def start_ways(settings: Settings, connector_ids: list[str]) -> dict[str, tuple[StartWay, ...]]:
    """How a driver starts at each connector: free vend, a card reader that serves it, the
    operator's app (a CSMS that can start it)."""
    free = settings.ocpp.authorization.free_vend_id_tag is not None
    ways: dict[str, tuple[StartWay, ...]] = {}
    for cid in connector_ids:
        charger = cid.rsplit(":", 1)[0]
        card = any(
            cid in reader.connectors or charger in reader.connectors
            for reader in settings.readers.values()
        )
        found = [StartWay.FREE] if free else []
        found += [StartWay.CARD] if card and not free else []
        found += [StartWay.APP] if settings.ocpp.enabled and not free else []
        paid_at = any(cid in t.connectors for t in settings.payments.terminals.values())
        found += [StartWay.TERMINAL] if paid_at and not free else []
        ways[cid] = tuple(found)
    return ways


def web_command(name: str, raw: bytes, connectors: tuple[str, ...]) -> Parsed:
    """A REST command's payload, read by the rules MQTT commands follow (one parser, origin web)."""
    return CommandParser(connectors, (name,), origin=Origin.WEB).parse(name, raw)


def bus_latency(buses: Mapping[str, Any]) -> BusLatency:
    """Each opened bus's per-device request durations (``ModbusBus.latency_histograms``)."""

    def read() -> list[tuple[str, str, Histogram]]:
        return [
            (bus_id, device_id, histogram)
            for bus_id, bus in buses.items()
            for device_id, histogram in bus.latency_histograms()
        ]

    return read


def device_errors(buses: Mapping[str, Any], readers: ErrorHistory | None = None) -> ErrorHistory:
    """Each opened bus's devices' last error events (``ModbusBus.error_histories``) and the
    card readers' (``PcscTokenReader.error_histories``)."""

    def read() -> dict[str, Sequence[ErrorEvent]]:
        found = {d: e for bus in buses.values() for d, e in bus.error_histories().items()}
        return found | (dict(readers()) if readers is not None else {})

    return read


def build_web(
    settings: Settings,
    site: SiteServices,
    connector_ids: list[str],
    mqtt: MqttService | None,
    uplink: UplinkRoute | None,
    *,
    buses: Mapping[str, Any] | None = None,
) -> WebServer:
    views, db, commands = site.views, site.db, site.commands
    terminals = {t: tuple(s.connectors) for t, s in settings.payments.terminals.items()}
    setup = DisplaySetup(
        settings.site.id, tuple(connector_ids), start_ways(settings, connector_ids), site.qr,
        terminals,
    )  # fmt: skip
    arms = site.arms
    hub = DisplayHub(
        views, setup, settings.web.push_interval_s, messages=site.board,
        arming=lambda: {t: arm.decision for t, arm in arms.items()},
    )  # fmt: skip
    desk = ProblemDesk(ProblemStore(db), mqtt.publish_problem if mqtt is not None else None, uplink)
    sources = Sources(
        desk,
        SessionHistory(
            SessionStore(db), sessions_report.Query(db.path, settings.site.id, settings.site.zone)
        ),
        connector_limits(settings, connector_ids),
        commands,
        web_command,
        OperatorQueue(db, site.outbox, uplink.notify if uplink is not None else lambda: None),
        tuple(check_lines(settings)),
        site.controller.reactions,
        bus_latency(buses or {}),
        device_errors(buses or {}, site.reader_errors),
        site.runs,
        tuple(settings.buses),
    )
    return WebServer(settings.web, hub, build_app(settings.web, hub, sources))
