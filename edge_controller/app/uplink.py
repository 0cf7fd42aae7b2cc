"""The OCPP uplink in the site: its channel for the status views (``UplinkStatus``), the
adapters between its small Protocols and the site's services, and how it is built
(``build_uplink``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_controller.api.codec import site_to_json
from edge_controller.app.core import SiteServices
from edge_controller.app.views import SiteViews
from edge_controller.config.settings import Settings
from edge_controller.domain.limit_schedule import Electrical
from edge_controller.domain.pricing.central import CentralCost
from edge_controller.services.control.csms_limits import CsmsLimits
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.services.sessions.recorder import SessionRecorder
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.sessions_store import EventToQueue, SessionStore
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.uplink.ports import (
    GridFacts,
    MeterSample,
    SessionSample,
    SitePorts,
    Station,
    TariffAssigned,
)
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.wakeup import OutboxWakeup

if TYPE_CHECKING:
    from edge_controller.uplink.service import OcppUplink

WATCH_S = 0.25  # how often the views' online flag follows the uplink
BACKLOG_EVERY = 4  # the backlog (a disk read) every fourth look: once a second


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

    async def session_cost(self, session_local_id: int, cost: CentralCost) -> bool:
        record = await self._store.get(session_local_id)
        if record is None or (record.stop_at_s is not None and not cost.final):
            return False
        self._pricing.central_cost(record.connector_id, record.local_id, cost)
        return True

    async def user_price(self, id_tag: str, text: str) -> bool:
        self._pricing.user_price(id_tag, text)
        return True

    async def default_price(self, tariff: dict[str, Any]) -> bool:
        return await self._pricing.assign_site(tariff, DEFAULT_PRICE_SOURCE)

    async def set_tariff(self, scope: str, tariff: dict[str, Any], source: str) -> str | None:
        return await self._pricing.assign(scope, tariff, source)

    async def clear_tariff(self, scope: str, source: str, tariff_id: str | None) -> str | None:
        return await self._pricing.clear(scope, source, tariff_id)

    def tariffs(self) -> list[TariffAssigned]:
        return [
            TariffAssigned(scope, tariff.tariff_id, source,
                           None if tariff.valid_from is None else tariff.valid_from.isoformat())
            for scope, (tariff, source) in sorted(self._pricing.assigned().items())
        ]  # fmt: skip

    def currency(self) -> str | None:
        return self._pricing.currency()

    async def tariff_conflicts(self, tariff: dict[str, Any]) -> bool:
        return await self._pricing.conflicts(tariff)

    async def driver_tariff(
        self, id_tag: str, tariff: dict[str, Any] | None, source: str
    ) -> str | None:
        return await self._pricing.driver_tariff(id_tag, tariff, source)


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


class UplinkStatus:
    """The uplink's state for the status views (online, outbox backlog): a channel made
    before both, written by ``watch`` once the uplink exists. The backlog is a disk read,
    kept off the control path and the views."""

    def __init__(self) -> None:
        self.online, self.backlog = False, 0

    def state(self) -> tuple[bool, int]:
        return self.online, self.backlog

    async def watch(self, uplink: OcppUplink, outbox: Outbox) -> None:
        while True:
            self.backlog = await outbox.backlog()
            for _ in range(BACKLOG_EVERY):
                self.online = uplink.online
                await asyncio.sleep(WATCH_S)


@dataclass(frozen=True)
class UplinkWatch:
    """Runs ``UplinkStatus.watch`` as a service of the daemon."""

    status: UplinkStatus
    uplink: OcppUplink
    outbox: Outbox

    async def run(self) -> None:
        await self.status.watch(self.uplink, self.outbox)


def uplink_topology(settings: Settings) -> Topology:
    return Topology(
        settings.ocpp.topology,
        settings.ocpp.identity or settings.site.id,
        {cid: c.connectors for cid, c in settings.chargers.items()},
    )


def station(settings: Settings) -> Station:
    return Station(
        electrical=Electrical(settings.site.nominal_voltage_v, settings.site.phases),
        max_current_a=settings.site.grid_limit_a,
        grid=GridFacts(
            settings.site.grid_limit_a,
            settings.site.power_limit_w,
            settings.site.fallback_current_a,
            settings.site.grid_stale_s,
        ),
        connection_timeout_s=settings.storage.sessions.plug_timeout_s,
        web_payment_hold_s=settings.payments.web.timeout_s,
        phase_rotations={
            f"{charger_id}:{n}": charger.phase_rotation
            for charger_id, charger in settings.chargers.items()
            for n in range(1, charger.connectors + 1)
        },
    )


@dataclass(frozen=True)
class UplinkChannels:
    """The uplink's channels, made before the session side and the views that use them."""

    outbox_wakeup: OutboxWakeup
    authorization: CsmsAuthorization
    status: UplinkStatus
    topology: Topology


def uplink_channels(settings: Settings) -> UplinkChannels | None:
    """None on a site without OCPP."""
    if not settings.ocpp.enabled:
        return None
    topology = uplink_topology(settings)
    return UplinkChannels(OutboxWakeup(), CsmsAuthorization(), UplinkStatus(), topology)


def build_uplink(settings: Settings, channels: UplinkChannels, site: SiteServices) -> list[object]:
    """The OCPP uplink on its channels and the site's ports, and its status watch."""
    from edge_controller.uplink.service import OcppUplink

    controller, topology = site.controller, channels.topology
    pricing = site.sessions.recorder.pricing
    ports = SitePorts(
        commands=site.commands,
        status=site.connectors,
        outbox=site.outbox,
        outbox_wakeup=channels.outbox_wakeup,
        authorization=channels.authorization,
        transactions=site.sessions,
        meters=ConnectorMeters(controller),
        samples=SessionSampleRecorder(site.sessions.recorder),
        limits=CsmsLimits(controller, topology.connectors, settings.ocpp.topology == "site"),
        auth_lists=AuthStore(site.db),
        diagnostics=Diagnostics(settings, site.views, site.outbox),
        prices=None if pricing is None else CentralPriceSink(site.sessions.recorder.store, pricing),
        display=site.board,
        station_faults=lambda: controller.snapshot().gateway_faults,
    )
    state_dir = settings.storage.state_dir
    uplink = OcppUplink(
        settings.ocpp,
        topology,
        ports,
        station(settings),
        state_dir=state_dir,
        versions=settings.ocpp_versions(),
    )
    return [uplink, UplinkWatch(channels.status, uplink, site.outbox)]
