"""The OCPP uplink in the site: how it is built and the adapters between its small Protocols
and the site's services."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge_controller.api.codec import site_to_json
from edge_controller.app.commands import CommandRouter
from edge_controller.app.views import SiteViews
from edge_controller.config.settings import Settings
from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.model import Limit
from edge_controller.domain.pricing.central import CentralCost
from edge_controller.domain.sessions.authorization import AuthEntry, AuthResult, AuthStatus
from edge_controller.domain.snapshot import ConnectorView
from edge_controller.log import get_logger
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.services.sessions.recorder import SessionRecorder
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.sessions_store import EventToQueue, SessionStore
from edge_controller.uplink.ports import MeterSample, SessionSample
from edge_controller.uplink.topology import Topology

if TYPE_CHECKING:
    from edge_controller.app.site import Core

log = get_logger("uplink.adapters")


class UplinkCommands:
    """The uplink's non-blocking command sink: a bounded queue worked off by its own task.
    Overflow policy: a full queue refuses the command (the CSMS gets Rejected)."""

    def __init__(self, router: CommandRouter, maxsize: int = 64) -> None:
        self._router = router
        self._queue: asyncio.Queue[Command] = asyncio.Queue(maxsize)

    def submit(self, command: Command) -> bool:
        try:
            self._queue.put_nowait(command)
        except asyncio.QueueFull:
            return False
        return True

    async def decide(self, command: Command) -> CommandResult:
        result = await self._router.submit(command)
        if not result.ok:
            log.info("csms command refused", command=type(command).__name__, error=result.error)
        return result

    async def run(self) -> None:
        while True:
            command = await self._queue.get()
            result = await self._router.submit(command)
            if not result.ok:
                log.warning("csms command not applied", command=repr(command), error=result.error)


class ConnectorViews:
    def __init__(self, views: SiteViews) -> None:
        self._views = views

    def connectors(self) -> tuple[ConnectorView, ...]:
        return self._views.current().connectors

    def reservation_ids(self) -> frozenset[int]:
        return self._views.reservation_ids()


class ConnectorMeters:
    """Meter samples for MeterValues from the control loop's latest built-in meter readings."""

    def __init__(self, controller: SiteController) -> None:
        self._controller = controller

    def sample(self, connector_id: str) -> MeterSample | None:
        reading = self._controller.latest_meter(connector_id)
        if reading is None:
            return None
        offered = next(
            (c.offered_current_a for c in self._controller.snapshot().connectors
             if c.connector_id == connector_id),
            None,
        )  # fmt: skip
        return MeterSample(
            at_s=reading.at_s,
            energy_register_wh=reading.import_energy_wh,
            power_w=reading.total_power_w,
            current_a=reading.current_a,
            voltage_v=reading.voltage_v,
            offered_current_a=offered,
        )


class SessionSampleRecorder:
    """The uplink's samples of running sessions go through the session recorder: the register
    is kept as the session's last known one in the same commit as the queued sample."""

    def __init__(self, recorder: SessionRecorder) -> None:
        self._recorder = recorder

    async def record_sample(self, sample: SessionSample) -> bool:
        event = sample.event
        if event.session_local_id is None:
            raise ValueError("a session sample without its session")
        events = (EventToQueue(sample.identity, event),) if event.readings else ()
        return await self._recorder.record_sample(
            event.session_local_id, event.connector_id, event.at_s,
            (sample.energy_wh, event.context), events,
        )  # fmt: skip


DEFAULT_PRICE_SOURCE = "ocpp16:DefaultPrice"


class CentralPriceSink:
    """Costs and price texts a CSMS calculates, to the pricing that shows them."""

    def __init__(self, store: SessionStore, pricing: SessionPricing) -> None:
        self._store, self._pricing = store, pricing

    async def transaction_cost(self, transaction_id: int, cost: CentralCost) -> bool:
        record = await self._store.by_remote_transaction(transaction_id)
        if record is None or (record.stop_at_s is not None and not cost.final):
            return False  # a running cost of a session that ended is no longer running
        self._pricing.central_cost(record.connector_id, record.local_id, cost)
        return True

    async def user_price(self, id_tag: str, text: str) -> bool:
        self._pricing.user_price(id_tag, text)
        return True

    async def default_price(self, tariff: dict[str, Any]) -> bool:
        return await self._pricing.assign_site(tariff, DEFAULT_PRICE_SOURCE)


class CsmsLimits:
    """Charging-profile limits become external limits of the balancer, never setpoints.

    A total for a site-wide identity caps the grid connection; a total for one charger's
    identity is shared equally by its connectors (safe: the sum never exceeds it)."""

    def __init__(self, controller: SiteController, topology: Topology, site_wide: bool) -> None:
        self._controller, self._topology, self._site_wide = controller, topology, site_wide

    def set_external_limits(
        self, scope: str, connectors: Mapping[str, Limit], total: Limit | None
    ) -> None:
        ids = self._topology.connectors(scope)
        for cid in ids:
            limits = [connectors[cid]] if cid in connectors else []
            if total is not None and not self._site_wide:
                limits.append(Limit(total.current_a / len(ids), f"{total.source} (shared)"))
            self._controller.set_external_limits(cid, limits)
        if self._site_wide:
            self._controller.set_site_cap(total)


class TransactionConfirmations:
    """StartTransaction answers reach the session side (StopTransactionOnInvalidId)."""

    def __init__(self, sessions: SessionManager, connector_ids: list[str]) -> None:
        self._sessions, self._ids = sessions, connector_ids
        self._queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(256)

    def transaction_confirmed(
        self, session_local_id: int, transaction_id: int, id_tag_status: str
    ) -> None:
        if id_tag_status == AuthStatus.ACCEPTED.value:
            return
        try:
            self._queue.put_nowait((session_local_id, id_tag_status))
        except asyncio.QueueFull:
            log.error("too many rejected transactions pending", transaction_id=transaction_id)

    async def run(self) -> None:
        while True:
            local_id, status = await self._queue.get()
            for cid in self._ids:
                record = self._sessions.open_session(cid)
                if record is not None and record.local_id == local_id:
                    entry = AuthEntry(record.id_tag, AuthStatus(status))
                    await self._sessions.on_remote_auth_result(record.id_tag, entry)


class Diagnostics:
    """The GetDiagnostics bundle: config without secrets, live status, storage figures."""

    def __init__(self, settings: Settings, views: SiteViews, outbox: Outbox) -> None:
        self._settings, self._views, self._outbox = settings, views, outbox

    async def files(self) -> Mapping[str, bytes]:
        config = self._settings.model_dump(mode="json")  # SecretStr dumps masked
        stats = dataclasses.asdict(await self._outbox.stats())
        db = self._settings.database_path
        usage = shutil.disk_usage(db.parent)
        storage = {
            "database_bytes": db.stat().st_size if db.exists() else None,
            "disk_free_bytes": usage.free,
            "outbox": stats,
        }
        return {
            "config.json": json.dumps(config, indent=2, default=str).encode(),
            "status.json": json.dumps(site_to_json(self._views.current()), indent=2).encode(),
            "storage.json": json.dumps(storage, indent=2, default=str).encode(),
        }


class UplinkLink:
    """Late binding to the uplink (it is built after the sessions that use it) and a cached
    view of its state for the status surfaces."""

    def __init__(self) -> None:
        self._uplink: Any = None
        self._outbox: Outbox | None = None
        self._backlog = 0

    def attach(self, uplink: Any, outbox: Outbox) -> None:
        self._uplink, self._outbox = uplink, outbox

    async def authorize(self, id_tag: str) -> AuthResult | None:
        if self._uplink is None:
            return None
        result: AuthResult | None = await self._uplink.authorize(id_tag)
        return result

    def notify_outbox(self) -> None:
        if self._uplink is not None:
            self._uplink.notify_outbox()

    def state(self) -> tuple[bool, int]:
        online = bool(self._uplink is not None and self._uplink.online)
        return online, self._backlog

    async def run(self) -> None:
        """Refresh the backlog figure for the views (a disk read, kept off the control path)."""
        while True:
            if self._outbox is not None:
                self._backlog = await self._outbox.backlog()
            await asyncio.sleep(1.0)


def uplink_topology(settings: Settings) -> Topology:
    return Topology(
        settings.ocpp.topology,
        settings.ocpp.identity or settings.site.id,
        {cid: c.connectors for cid, c in settings.chargers.items()},
    )


def build_uplink(settings: Settings, topology: Topology, link: UplinkLink, core: Core) -> list[Any]:
    """The OCPP uplink and the adapters that connect it to the site."""
    controller, sessions, views, outbox = core.controller, core.sessions, core.views, core.outbox
    from edge_controller.domain.limit_schedule import Electrical
    from edge_controller.uplink.service import OcppUplink

    commands = UplinkCommands(CommandRouter(controller, sessions))
    pricing = sessions.recorder.pricing
    confirmations = TransactionConfirmations(
        sessions, [cid for identity in topology.identities for cid in topology.connectors(identity)]
    )
    uplink = OcppUplink(
        settings.ocpp,
        topology,
        state_dir=settings.storage.state_dir,
        commands=commands,
        status=ConnectorViews(views),
        outbox=outbox,
        meters=ConnectorMeters(controller),
        samples=SessionSampleRecorder(sessions.recorder),
        limits=CsmsLimits(controller, topology, settings.ocpp.topology == "site"),
        electrical=Electrical(settings.site.nominal_voltage_v, settings.site.phases),
        max_current_a=settings.site.grid_limit_a,
        auth_lists=AuthStore(core.db),
        diagnostics=Diagnostics(settings, views, outbox),
        transactions=confirmations,
        connection_timeout_s=settings.storage.sessions.plug_timeout_s,
        prices=None if pricing is None else CentralPriceSink(sessions.recorder.store, pricing),
        phase_rotations={
            f"{charger_id}:{n}": charger.phase_rotation
            for charger_id, charger in settings.chargers.items()
            for n in range(1, charger.connectors + 1)
        },
    )
    link.attach(uplink, outbox)
    views.set_uplink(link.state)
    return [uplink, commands, confirmations, link]
