"""Builds every service of a site from its settings: the composition root's main part.

``build_site`` makes the channels first, then each service with everything it uses; nothing is
attached or looked up later. The three main ways through the code start here (see
``docs/architecture.md``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge_controller.api.jobs import CommissioningRuns
from edge_controller.api.server import STATUS_SOCKET, StatusServer
from edge_controller.app.attention import Attention
from edge_controller.app.commands import CommandPort
from edge_controller.app.core import SiteServices
from edge_controller.app.hardware import Hardware, open_hardware
from edge_controller.app.outbox_admin import daemon_requeue
from edge_controller.app.payments import auto_arms, connector_flows, cost_limits, payment_flows
from edge_controller.app.problems import ProblemDesk, UplinkRoute, station_route
from edge_controller.app.qr import qr_codes
from edge_controller.app.site_faults import FaultWatch
from edge_controller.app.telemetry import MessageFeed, MqttFeed
from edge_controller.app.uplink import UplinkChannels, build_uplink, uplink_channels
from edge_controller.app.views import ConnectorViews, SiteViews, StorageState
from edge_controller.config.settings import Settings
from edge_controller.domain.balancing import Feeder, Policy, Site, wiring_from_rotation
from edge_controller.domain.payments import waiting_for_authorisation
from edge_controller.domain.sessions.authorization import AuthPolicy
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.log import get_logger
from edge_controller.ports import BuiltInMeter
from edge_controller.services.control.site_controller import (
    ConnectorSetup,
    LoopHooks,
    LoopTiming,
    SiteController,
)
from edge_controller.services.control.status_relay import StatusRelay
from edge_controller.services.display_board import MessageBoard
from edge_controller.services.housekeeping import StorageHousekeeping
from edge_controller.services.readers import PendingTaps, ReaderRoute, ReaderService
from edge_controller.services.sessions.manager import SessionChannels, SessionManager
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.services.sessions.recorder import EnergySource
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.services.sessions.setup import SessionOptions, build_session_manager
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.guard import StorageGuard
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.storage.tariff_store import SITE, TariffStore
from edge_controller.systemd import Notifier

if TYPE_CHECKING:
    from edge_controller.drivers.pcsc.reader import PcscTokenReader  # pyscard, loaded lazily

log = get_logger("site")


def commissioning_runs(
    settings: Settings, hw: Hardware, uplink_online: Callable[[], bool]
) -> CommissioningRuns:
    """Scan and selftest, from the command line or the console. Their code (a bus scan's, the
    selftest's items, the register maps they read: 0.4 MB of objects) is imported at a run's
    start, as most daemons never run either."""
    runs = CommissioningRuns()

    async def scan(request: dict[str, Any]) -> dict[str, Any]:
        from edge_controller.app.scan import daemon_scanner

        found: dict[str, Any] = await daemon_scanner(hw.buses, dict(settings.buses), runs.note)(
            request
        )
        return found

    async def selftest(request: dict[str, Any]) -> dict[str, Any]:
        from edge_controller.app.selftest_live import DaemonSide, daemon_selftest

        side = DaemonSide(settings, hw.buses, uplink_online)
        report: dict[str, Any] = await daemon_selftest(side, runs.note)(request)
        return report

    runs.jobs["scan"] = scan
    runs.jobs["selftest"] = selftest
    return runs


def balancing_site(settings: Settings) -> tuple[Site, Policy]:
    s = settings.site
    site = Site(
        grid_limit_a=s.grid_limit_a,
        feeders=tuple(Feeder(fid, f.limit_a, f.parent) for fid, f in s.feeders.items()),
        power_limit_w=s.power_limit_w,
        nominal_voltage_v=s.nominal_voltage_v,
    )
    policy = Policy(
        fallback_current_a=s.fallback_current_a,
        stale_after_s=s.grid_stale_s,
        assumed_building_load_a=s.assumed_building_load_a,
        rotation_interval_s=s.rotation_interval_s,
        increase_interval_s=s.increase_interval_s,
        min_increase_a=s.min_increase_a,
        min_increase_hold_s=s.min_increase_hold_s,
        min_pause_s=s.min_pause_s,
        min_charge_s=s.min_charge_s,
        resolution_a=s.current_resolution_a,
        decrease_settle_s=s.decrease_settle_s,
    )
    return site, policy


def connector_setups(settings: Settings, hw: Hardware) -> list[ConnectorSetup]:
    setups = []
    for cid, port in hw.chargers.items():
        c = settings.chargers[cid.rsplit(":", 1)[0]]
        setups.append(
            ConnectorSetup(
                cid,
                port,
                wiring=wiring_from_rotation(c.phase_rotation),
                feeder=c.feeder,
                min_current_a=c.min_current_a,
                max_current_a=c.max_current_a,
                priority=c.priority,
                failsafe_current_a=c.failsafe_current_a,
                failsafe_timeout_s=c.failsafe_timeout_s,
                poll_interval_s=c.poll_interval_s,
                authorized_at_start=False,
                free_vend=settings.ocpp.authorization.free_vend_id_tag is not None,
            )
        )
    return setups


def loop_timing(settings: Settings) -> LoopTiming:
    grid = next((m for m in settings.meters.values() if m.role == "grid"), None)
    worst_io_s = max((b.timeout_s * (b.retries + 1) for b in settings.buses.values()), default=1.0)
    grid_poll_s = grid.poll_interval_s if grid is not None else 1.0
    slowest_poll_s = max([grid_poll_s, *(c.poll_interval_s for c in settings.chargers.values())])
    return LoopTiming(
        tick_s=settings.site.tick_s,
        io_timeout_s=max(3.0, worst_io_s + 0.5),
        grid_poll_interval_s=grid_poll_s,
        measurement_window_s=2 * slowest_poll_s + 1.0,
    )


def session_options(settings: Settings) -> SessionOptions:
    auth = settings.ocpp.authorization
    # With OCPP on, the uplink samples MeterValues with the configured measurands and follows
    # the CSMS's intervals; the session side then records start and stop only (no duplicates).
    sampling = (
        Sampling(0, 0)
        if settings.ocpp.enabled
        else Sampling(
            settings.ocpp.meter_value_sample_interval_s, settings.ocpp.clock_aligned_data_interval_s
        )
    )
    return SessionOptions(
        policy=AuthPolicy(**auth.model_dump(exclude={"authorize_timeout_s"})),
        timeouts=Timeouts(
            settings.storage.sessions.plug_timeout_s, settings.storage.sessions.auth_timeout_s
        ),
        sampling=sampling,
        meter_timeout_s=settings.storage.sessions.meter_timeout_s,
        authorize_timeout_s=auth.authorize_timeout_s,
    )


def energy_sources(hw: Hardware) -> dict[str, EnergySource]:
    sources: dict[str, EnergySource] = {}
    for cid, port in hw.chargers.items():
        meter = hw.connector_meters.get(cid)
        if meter is not None:
            sources[cid] = meter
        elif isinstance(port, BuiltInMeter):
            sources[cid] = port
    return sources


def build_readers(
    settings: Settings, taps: PendingTaps, sessions: SessionManager
) -> tuple[ReaderService, PcscTokenReader]:
    """The PC/SC readers and the service that routes their taps into sessions."""
    from edge_controller.drivers.pcsc.config import ReaderConfig
    from edge_controller.drivers.pcsc.reader import PcscTokenReader

    configs = [
        ReaderConfig(rid, r.name_pattern, r.reverse_uid, r.uid_from_atr, r.feedback)
        for rid, r in settings.readers.items()
    ]
    pcsc = PcscTokenReader(configs)
    feedback = {rid: f for rid in settings.readers if (f := pcsc.feedback(rid)) is not None}
    service = ReaderService(
        [pcsc], taps, sessions.on_token, activity=sessions.activity, feedback=feedback
    )
    return service, pcsc


def config_tariffs(settings: Settings) -> dict[str, dict[str, Any]]:
    """The config's tariffs by scope (the site's default: ``SITE``)."""
    section = settings.tariffs
    wanted = {ref: t.body() for ref, t in section.connectors.items()}
    if section.default is not None:
        wanted[SITE] = section.default.body()
    return wanted


async def open_pricing(settings: Settings, db: Database) -> SessionPricing:
    """The tariffs of the config applied (each change logged with its source), and any stopped
    session left without its cost priced now; the session side prices with it from its start."""
    pricing = SessionPricing(TariffStore(db), settings.site.zone)
    await pricing.apply_config(config_tariffs(settings))
    priced = await SessionStore(db).price_unpriced(pricing.price, time.time())
    if priced:
        log.info("stopped sessions priced at start", sessions=priced)
    return pricing


class PricingService:
    """Keeps the running costs up to date, and applies the tariffs of a config reloaded by
    SIGHUP without a restart: sessions that start from then on are priced by them; running
    ones keep the version they started with."""

    def __init__(self, pricing: SessionPricing) -> None:
        self._pricing = pricing

    async def run(self) -> None:
        await self._pricing.run()

    async def reload(self, settings: Settings) -> None:
        await self._pricing.apply_config(config_tariffs(settings))


def reader_taps(settings: Settings) -> PendingTaps | None:
    """The channel between shared readers and the session side; None without readers."""
    if not settings.readers:
        return None
    routes = {
        rid: ReaderRoute(tuple(r.connectors), r.plug_timeout_s)
        for rid, r in settings.readers.items()
    }
    return PendingTaps(routes)


def build_controller(
    settings: Settings, hw: Hardware, notifier: Notifier, relay: StatusRelay
) -> SiteController:
    """The control loop on the devices; charger statuses go out on the status relay."""
    site, policy = balancing_site(settings)
    return SiteController(
        settings.site.id,
        site,
        connector_setups(settings, hw),
        hw.grid_meter,
        policy=policy,
        timing=loop_timing(settings),
        hooks=LoopHooks(on_tick=notifier.ping_watchdog, on_status=relay.push),
    )


def session_channels(
    relay: StatusRelay, taps: PendingTaps | None, uplink: UplinkChannels | None
) -> SessionChannels:
    return SessionChannels(
        statuses=relay,
        taps=taps,
        csms=uplink.authorization if uplink is not None else None,
        outbox_wakeup=uplink.outbox_wakeup.set if uplink is not None else None,
    )


def build_faces(
    settings: Settings, site: SiteServices, uplink: UplinkChannels | None, hw: Hardware
) -> list[Any]:
    """The optional faces on the site's services: the OCPP uplink, MQTT and the web."""
    services: list[Any] = []
    if uplink is not None:
        services += build_uplink(settings, uplink, site)
    mqtt = None
    if settings.mqtt.enabled:
        from edge_controller.telemetry import MqttService

        mqtt = MqttService.from_settings(settings, site.commands)
        messages = MessageFeed(mqtt, site.board, site.qr) if settings.driver_notes else None
        feed = MqttFeed(mqtt, site.views, site.sessions, messages)
        services += [mqtt, feed]
        if settings.site.role != "standalone":
            from edge_controller.app.gateways import build_gateway

            tree = balancing_site(settings)
            services.append(build_gateway(settings, site.controller, mqtt, tree, site.db))
    route = None
    if uplink is not None:
        route = UplinkRoute(station_route(uplink.topology), uplink.outbox_wakeup.set)
    if settings.web.enabled:
        from edge_controller.app.web import build_web

        services.append(build_web(settings, site, list(hw.chargers), mqtt, route, buses=hw.buses))
    services.append(build_fault_watch(settings, site, mqtt, route))
    return services


def build_fault_watch(
    settings: Settings, site: SiteServices, mqtt: Any, route: UplinkRoute | None
) -> FaultWatch:
    """Faults the site sees itself become problem reports, with or without the web faces."""
    store = ProblemStore(site.db)
    publish = mqtt.publish_problem if mqtt is not None else None
    desk = ProblemDesk(store, publish, route)
    # A fault is the charger's own word (the session side's join keeps Faulted as it is):
    # the connectors are not joined for it.
    views = site.views
    return FaultWatch(
        desk, store, lambda: views.next_view(joined=False), settings.web.fault_report_after_s
    )


async def build_site(
    settings: Settings, notifier: Notifier, stack: contextlib.AsyncExitStack
) -> list[Any]:
    """Every service of the site, ready for the TaskGroup (order matters only for shutdown).

    The channels come first (status relay, reader taps, the uplink's outbox wake-up, Authorize
    requests and status); then the services on them, each given everything it uses when it
    is made; the command port once its two owners exist, before any entry point."""
    relay, taps, uplink = StatusRelay(), reader_taps(settings), uplink_channels(settings)
    db = await Database.open(settings.database_path)  # creates the state directory
    stack.push_async_callback(db.close)
    guard = StorageGuard(db)
    hw = await open_hardware(settings, stack)
    controller = build_controller(settings, hw, notifier, relay)
    pricing = await open_pricing(settings, db)
    sessions = build_session_manager(
        db, list(hw.chargers), controller, energy_sources(hw),
        channels=session_channels(relay, taps, uplink),
        route=uplink.topology.route if uplink is not None else None,
        options=session_options(settings), pricing=pricing,
    )  # fmt: skip
    await sessions.recover()
    # Shut down first: the sessions (closed with their final meter values), then every charger
    # to its safe current.
    services: list[Any] = [sessions, controller]
    devices = list(hw.device_views)
    reader_errors = None
    if taps is not None:
        readers, pcsc = build_readers(settings, taps, sessions)
        services.append(readers)
        devices.append(pcsc.devices)
        reader_errors = pcsc.error_histories
    connectors = ConnectorViews(controller, sessions)
    attention = Attention(db)
    views = SiteViews(
        controller, connectors, devices,
        uplink=uplink.status.state if uplink is not None else lambda: (False, 0),
        storage=StorageState(lambda: guard.alarm, attention.counts),
    )  # fmt: skip
    outbox = Outbox(db, capacity=settings.storage.outbox_capacity)
    settle_to = None
    if uplink is not None and settings.payments.terminals:  # only the terminals' flows settle
        from edge_controller.storage.payments_store import SettlementOutbox  # see app.payments

        versions = settings.ocpp_versions()
        settle_to = SettlementOutbox(
            settings.site.id, uplink.topology.route, uplink.outbox_wakeup.set,
            tells_token=lambda identity: versions.get(identity, ())[:1] == ("1.6",),
        )  # fmt: skip
    flows = payment_flows(settings, db, pricing, settle_to)
    commands = CommandPort(controller, sessions, connector_flows(settings, flows))
    arms = auto_arms(settings, flows, commands.pay_armed,
                     lambda: waiting_for_authorisation(views.current().connectors))  # fmt: skip
    commands.arm_with({cid: arm for arm in arms.values() for cid in arm.served})
    retention_s = settings.storage.outbox_retention_days * 86400
    runs = commissioning_runs(settings, hw, lambda: views.current().uplink_online)
    services += [
        commands,
        StatusServer(
            settings.storage.state_dir / STATUS_SOCKET,
            views.current,
            requeue=daemon_requeue(outbox, uplink.outbox_wakeup.set if uplink else lambda: None),
            runs=runs,
        ),
        attention,
        PricingService(pricing),
        # each terminal's flow: reservations left by a crash reversed, priced sessions captured
        *flows.values(),
        *([cost_limits(db, pricing, commands.decide)] if flows else []),
        *arms.values(),  # each self-arming terminal: armed for the only EV waiting there
        StorageHousekeeping(outbox, AuthStore(db), retention_s=retention_s),
        guard,
    ]
    board, qr = MessageBoard(), qr_codes(settings, list(hw.chargers))
    site = SiteServices(
        controller, sessions, connectors, views, commands, outbox, db, board, qr, runs,
        reader_errors, arms,
    )  # fmt: skip
    return services + build_faces(settings, site, uplink, hw)
