"""The OCPP uplink service: one reconnecting link per identity, plus the ``Authorizer`` role.

Wiring (in the composition root)::

    uplink = OcppUplink(settings.ocpp, topology, SitePorts(commands, status, outbox, ...),
                        Station(...), state_dir=...)
    tasks.create_task(uplink.run())
    await uplink.authorize("04A2B3C4")   # AuthResult | None (None: offline or no answer)
    # ports.outbox tells ports.outbox_wakeup of every commit that put messages in line: each
    # identity's sender sends them at once and otherwise waits, with no poll.

The session side reaches ``authorize`` through ``ports.authorization`` (a channel served
while the uplink runs), never through the uplink object.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidHandshake, WebSocketException
from websockets.frames import CloseCode

from edge_controller.config.settings import OcppSettings
from edge_controller.domain.backoff import reconnect_delay_s
from edge_controller.domain.commands import Origin, SetConnectorEnabled
from edge_controller.domain.security import SecurityEventKind
from edge_controller.domain.sessions.authorization import AuthEntry, AuthResult, AuthStatus
from edge_controller.log import get_logger
from edge_controller.uplink.auth_key import KeyFile
from edge_controller.uplink.certificates import CertificateStore
from edge_controller.uplink.clock import ClockSync, from_iso
from edge_controller.uplink.collect import LossCollector
from edge_controller.uplink.connection import (
    TlsFiles,
    configured_pair,
    loadable,
    open_connection,
    shed_handshake,
)
from edge_controller.uplink.device_model import bound_defaults, station_variables
from edge_controller.uplink.device_model.catalog import CONNECTION_ATTEMPTS_KEY
from edge_controller.uplink.dialect import OCPP16, UnknownSubprotocol, negotiated
from edge_controller.uplink.follow import IdentityFollow, Pacer
from edge_controller.uplink.keepalive import Keepalive
from edge_controller.uplink.link import IdentityCore, IdentityLink
from edge_controller.uplink.metering import Metering
from edge_controller.uplink.network_profiles import NetworkProfile, NetworkProfiles
from edge_controller.uplink.ocpp_compat import call
from edge_controller.uplink.pacing import StatusWatch
from edge_controller.uplink.ports import SitePorts, Station
from edge_controller.uplink.reconnect import Reconnecting
from edge_controller.uplink.repeated_lines import RepeatedLines
from edge_controller.uplink.rpc import CallFailed
from edge_controller.uplink.security_events import SecurityEvents, pair_refused, refusal
from edge_controller.uplink.security_log import SecurityLog
from edge_controller.uplink.session import STATUS_POLL_S, LinkSession, RebootRequested
from edge_controller.uplink.smart import SmartCharging
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16 import config_keys
from edge_controller.uplink.v16.charge_point import EdgeChargePoint
from edge_controller.uplink.v201.display import DisplayMessages201

log = get_logger("uplink")
CLOSE_WAIT_S = 1.0
SEND_SHARE = 2 / 3  # of an orderly stop's uplink time: sending what is queued
CONNECTION_ERRORS = (OSError, TimeoutError, WebSocketException, CallFailed, UnknownSubprotocol)
if TYPE_CHECKING:
    # 2.x sessions are imported only where a CSMS chose 2.x (``_session``): a 1.6 site runs
    # without their code.
    from edge_controller.uplink.v201.monitoring import AvailabilityWatch
    from edge_controller.uplink.v201.session import Session201
    from edge_controller.uplink.v201.web_payment import WebPayments201

    Session = LinkSession | Session201


class OcppUplink:
    def __init__(
        self,
        settings: OcppSettings,
        topology: Topology,
        ports: SitePorts,
        station: Station | None = None,
        *,
        state_dir: Path,
        now_s: Callable[[], float] = time.time,
        versions: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        """``versions``: the OCPP versions an identity offers instead of the settings' (a
        charger of its own identity that speaks another version than the site's)."""
        self.settings = settings
        self.topology = topology
        self._settings_of = {
            identity: _offering(settings, (versions or {}).get(identity))
            for identity in topology.identities
        }
        self.clock = ClockSync()
        self._ports = ports
        self._state_dir, self._started_s = state_dir, now_s()
        # Every identity connects, and loses the CSMS, at once: their lines are folded.
        self._lines = RepeatedLines(log)
        self._wakeup = {i: ports.outbox_wakeup.subscribe(i) for i in topology.identities}
        ports.outbox.on_queued(ports.outbox_wakeup.set_many)
        station = self._station = station or Station()
        self.sessions: dict[str, Session] = {}
        self._defaults: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
        # One task each for every identity: what it follows each second, its smart charging.
        self._follows, self._smart = Pacer(), Pacer()
        self._keepalive = Keepalive()  # every connection's pings
        self._statuses = StatusWatch(STATUS_POLL_S)  # every connection's status reports
        self._losses = LossCollector()  # lost connections' objects freed before the reconnect
        self.links = {
            identity: self._link(identity, station, state_dir, now_s)
            for identity in topology.identities
        }
        self._applied_enabled: dict[str, bool] = {}
        self._commands = ports.commands
        for link in self.links.values():
            link.lines = self._lines
        self._share_session_keys()
        self._follow()

    def _link(
        self, identity: str, station: Station, state_dir: Path, now_s: Callable[[], float]
    ) -> IdentityLink:
        ports, connectors = self._ports, self.topology.connectors(identity)
        settings = self._settings_of[identity]
        rotations = [station.phase_rotations.get(c, "") for c in connectors]
        defaults = config_keys.defaults(
            settings,
            len(connectors),
            smart=ports.limits is not None,
            local_list=ports.auth_lists is not None,
            connection_timeout_s=station.connection_timeout_s,
            phase_rotation=config_keys.phase_rotation(rotations),
        )
        # The 2.x device model's own entries (MinSet/MaxSet) live in the same store.
        model = station_variables(settings, identity, len(connectors), smart=False)
        configured = NetworkProfile(
            settings.url or "", settings.security_profile, settings.call_timeout_s
        )
        defaults |= bound_defaults(model)
        config = OcppStateFile(state_dir / f"ocpp-{identity}.json", self._shared(defaults))
        core = IdentityCore(
            identity, self.topology, config, ports.status, ports.outbox, self.clock, now_s
        )
        return IdentityLink(
            identity,
            settings,
            self.topology,
            config,
            ports.commands,
            ports.status,
            ports.outbox,
            self.clock,
            now_s,
            ports.auth_lists,
            smart=self._smart_charging(core, station),
            metering=self._metering(core),
            display=DisplayMessages201(core, ports.display),
            # Kept holds are shown from the start, whatever connects; else made with the
            # online periods at the identity's first 2.x connection (``_two_x_parts``).
            web_payments=self._web_payments(core) if config.web_payment_holds() else None,
            diagnostics=ports.diagnostics,
            transactions=ports.transactions,
            auth_key=KeyFile(state_dir / f"ocpp-{identity}.key"),
            session_key_changed=self._session_key_changed,
            prices=ports.prices,
            station_faults=ports.station_faults if self._reports_station(identity) else None,
            security=self._security_events(identity, now_s, state_dir),
            certificates=CertificateStore(state_dir / f"certs-{identity}", settings.ca_file),
            network=NetworkProfiles(state_dir / f"ocpp-{identity}-network.json", configured),
            log=core.log,
        )

    def _reports_station(self, identity: str) -> bool:
        """The first identity's charge point reports what belongs to no charger (the site's
        gateway faults): once, not once per charger (a thousand alarms and clears for one
        fault with an identity per charger), and always there (config order)."""
        return identity == self.topology.identities[0]

    def _web_payments(self, core: IdentityCore) -> WebPayments201:
        from edge_controller.uplink.v201.web_payment import WebPayments201

        ports, hold_s = self._ports, self._station.web_payment_hold_s
        return WebPayments201(core, ports.commands, ports.display, hold_s)

    def _two_x_parts(self, link: IdentityLink) -> None:
        """What only a 2.x connection uses, made at the identity's first: an identity the
        CSMS speaks 1.6 with (a thousand, one per charger) never holds them. The online
        periods end one a crash left open at this process's start, as when made with it."""
        from edge_controller.uplink.v201.online import OnlinePeriods

        if link.online_periods is None:
            path = self._state_dir / f"ocpp-{link.identity}-online.json"
            link.online_periods = OnlinePeriods(path, self._started_s)
        if link.web_payments is None:
            link.web_payments = self._web_payments(
                IdentityCore(link.identity, link.topology, link.config, link.status,
                             link.outbox, link.clock, link.now_s, log=link.log)
            )  # fmt: skip

    def _shared(self, defaults: dict[str, str]) -> Mapping[str, str]:
        """One read-only copy of each distinct set of defaults: chargers alike share it."""
        key = tuple(defaults.items())
        return self._defaults.setdefault(key, MappingProxyType(defaults))

    def _security_events(
        self, identity: str, now_s: Callable[[], float], state_dir: Path
    ) -> SecurityEvents:
        """Security events go out on every version (1.6 by its security extension), and are
        kept in the identity's security log."""
        kept = SecurityLog(state_dir / f"security-{identity}.log")
        wake = self._wakeup[identity].set
        return SecurityEvents(self._ports.outbox, identity, wake, now_s, kept)

    def _smart_charging(self, core: IdentityCore, station: Station) -> SmartCharging | None:
        limits = self._ports.limits
        return None if limits is None else SmartCharging(core, limits, station, self._smart.soon)

    def _metering(self, core: IdentityCore) -> Metering | None:
        meters, samples = self._ports.meters, self._ports.samples
        if meters is None or samples is None:
            return None
        return Metering(core, meters, samples, self._caller(core.identity))

    def _caller(self, identity: str) -> Callable[[], Callable[[Any], Any] | None]:
        def online_call() -> Callable[[Any], Any] | None:
            session = self.sessions.get(identity)
            if not isinstance(session, LinkSession):  # 2.x samples go by TransactionEvent
                return None
            return session.call if session.link.accepted else None

        return online_call

    def _availability_watcher(self) -> type[AvailabilityWatch] | None:
        """Variable monitors exist on 2.x only: where 2.x is not offered, nothing watches,
        and their module is not imported."""
        if all(version == OCPP16.version for version in self.settings.versions):
            return None
        from edge_controller.uplink.v201.monitoring import AvailabilityWatch

        return AvailabilityWatch

    @property
    def online(self) -> bool:
        return any(link.accepted for link in self.links.values())

    def notify_outbox(self) -> None:
        for event in self._wakeup.values():
            event.set()

    def _share_session_keys(self) -> None:
        """The session rules are the site's: every identity reports the values of the first
        (a CSMS change reached every identity's file unless the process died in between)."""
        first = next(iter(self.links.values())).config
        for link in self.links.values():
            for key in config_keys.SESSION_KEYS:
                value = first.get(key)
                if value is not None and link.config.get(key) != value:
                    link.config.set(key, value)

    def _session_key_changed(self, key: str, value: str) -> bool:
        """A CSMS changed a session rule: the site applies it, every identity reports it."""
        if not self._commands.submit(config_keys.session_rules({key: value})):
            log.warning("session rule not applied, command queue full", key=key)
            return False
        for link in self.links.values():
            if link.config.get(key) != value:
                link.config.set(key, value)
        return True

    async def run(self) -> None:
        # Values a CSMS set before a restart apply again before any session decision.
        first = next(iter(self.links.values())).config
        if not self._commands.submit(config_keys.session_rules(first.items())):
            log.error("stored session rules not applied, command queue full")
        # All at once: the database commits them together. One by one, each waited for its
        # own fsync, and a thousand identities waited minutes before the first connected.
        startup = SecurityEventKind.STARTUP_OF_THE_DEVICE
        await asyncio.gather(*(_raise(link, startup) for link in self.links.values()))
        try:
            await self._serve()
        finally:
            self._losses.cancel()
            self._lines.flush()
            # Changes not answered to a CSMS (a session's profile ended, a message expired)
            # are on disk before the uplink is gone too; a failed write was logged.
            files = (link.config.written() for link in self.links.values())
            await asyncio.gather(*files, return_exceptions=True)

    async def _serve(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._follows.run(tasks))
            tasks.create_task(self._smart.run(tasks))
            tasks.create_task(self._keepalive.run())
            tasks.create_task(self._statuses.run())
            connections = Reconnecting(
                self._connect_once, self._rebooted, self._reconnect_delay_s, self._cancel_session
            )
            tasks.create_task(connections.run(self.links))
            if self._ports.authorization is not None:
                tasks.create_task(self._ports.authorization.serve(self.authorize))

    def _reconnect_delay_s(self, failures: int) -> float:
        min_s, max_s = self.settings.reconnect_min_s, self.settings.reconnect_max_s
        return reconnect_delay_s(failures, min_s, max_s)

    async def _rebooted(self, identity: str) -> None:
        await _raise(self.links[identity], SecurityEventKind.RESET_OR_REBOOT)

    def _cancel_session(self, identity: str) -> None:
        session = self.sessions.get(identity)
        if session is not None:
            session.cancel_tasks()

    async def _connect_once(self, identity: str) -> str:
        """One connection's lifetime; says how it ended: reboot, was_online, failed or broken."""
        link = self.links[identity]
        outcome = "failed"
        tls = TlsFiles()
        failure: BaseException | None = None
        profile = link.network.next_attempt() if link.network is not None else None
        if not _above_floor(link, profile):
            _not_opened(link, profile, tls, None)
            return outcome
        try:
            key = link.auth_key.load() if link.auth_key is not None else None
            settings = _with_network(_with_ping(self._settings_of[identity], link), profile)
            tls = self._tls_files(link, settings)
            # The connection alone is kept: the library's connect object (its arguments, some
            # 0.7 kB) is not needed once it is open.
            async with await open_connection(settings, identity, key, tls) as ws:
                shed_handshake(ws)
                outcome = "was_online"
                self._lines.info("connected to CSMS", identity)
                _opened(link, profile, tls)
                session = self._session(link, ws)
                self.sessions[identity] = session
                pinged = self._keepalive.watching(
                    ws, settings.ping_interval_s, settings.dead_timeout_s
                )
                try:
                    with pinged:
                        await session.run()
                except (BaseExceptionGroup, asyncio.CancelledError) as exc:
                    if _going_away(exc):
                        await _close_going_away(ws, _why(exc))
                    raise
        except* RebootRequested:
            log.info("reset requested by CSMS, booting again", identity=identity)
            outcome = "reboot"
        except* InvalidHandshake as group:
            failure = group.exceptions[0]
            if not await _refused(link, group):
                self._lines.error("CSMS refused the connection", identity, error=_first(group))
        except* CONNECTION_ERRORS as group:
            failure = group.exceptions[0]
            if not await _refused(link, group):
                self._lines.warning("CSMS connection lost", identity, error=_first(group))
        except* Exception as group:
            # Our own bug in one message's handling must not end the uplink (and with it the
            # daemon and every session on site): say what failed, then connect again, backing off
            # as after a failed attempt (without giving up a new network profile or certificate).
            outcome = "broken"
            for error in group.exceptions:
                log.error(
                    "uplink session failed, connecting again",
                    identity=identity,
                    error=repr(error),
                    exc_info=error,
                )
        finally:
            link.accepted = False
            self._session_ended(identity)
        if outcome == "failed":
            _not_opened(link, profile, tls, failure)
        # The error's traceback holds this frame, and the frame the error: freed now instead of
        # at a collection, with the frames and socket of its attempt (about 7 kB of objects).
        failure = None
        return outcome

    def _session_ended(self, identity: str) -> None:
        """A connection that was open ended: its objects are collected before the reconnect."""
        if self.sessions.pop(identity, None) is not None:
            self._losses.lost()

    def _tls_files(self, link: IdentityLink, settings: OcppSettings) -> TlsFiles:
        store = link.certificates
        if store is None:
            return TlsFiles()
        client = None
        if settings.security_profile == 3:
            client = store.client_pair(configured_pair(settings))
            if client is not None and client.new and not loadable(client):
                store.new_pair_failed()  # never offered: the old pair goes at once
                client = store.client_pair(configured_pair(settings))
        return TlsFiles(tuple(store.csms_root_files()), client)

    def _session(self, link: IdentityLink, ws: ClientConnection) -> Session:
        """The session of the version the CSMS chose among those offered."""
        dialect = negotiated(ws.subprotocol)
        if dialect.version not in self._settings_of[link.identity].versions:
            raise UnknownSubprotocol(f"the CSMS chose {dialect.version}, not offered")
        wakeup = self._wakeup[link.identity]
        if dialect is OCPP16:
            return LinkSession(link, EdgeChargePoint(link, ws), wakeup, self._statuses)
        from edge_controller.uplink.v201.session import Session201
        from edge_controller.uplink.v201.station import Station201

        self._two_x_parts(link)
        return Session201(link, Station201(link, ws, self._station), wakeup, self._statuses)

    def _follow(self) -> None:
        """What each identity follows whether connected or not, and its charging profiles,
        each looked at from one task (``follow``)."""
        reconcile = self._reconcile_availability  # one bound method for all
        watcher = self._availability_watcher()
        for identity, link in self.links.items():
            wake = self._wakeup[identity].set
            watch = watcher(link, wake) if watcher is not None else None
            self._follows.add(IdentityFollow(link, reconcile, watch))
            if link.smart is not None:
                self._smart.add(link.smart)

    def _reconcile_availability(self, identity: str) -> None:
        """Apply the persisted ChangeAvailability state; a busy connector waits for its end."""
        link = self.links[identity]
        mine = self.topology.connectors(identity)
        applied = self._applied_enabled
        wanted = [not link.config.inoperative(n) for n in range(1, len(mine) + 1)]
        if all(applied.get(local) == w for local, w in zip(mine, wanted, strict=True)):
            return  # nothing to apply: the views (joined for each connector) are not needed
        views = {s.connector_id: s for s in link.status.states_of(mine)}
        for local, wanted_enabled in zip(mine, wanted, strict=True):
            view = views.get(local)
            busy = view is not None and view.session_id is not None
            if applied.get(local) == wanted_enabled or (busy and not wanted_enabled):
                continue
            if link.commands.submit(SetConnectorEnabled(local, wanted_enabled, Origin.CSMS)):
                applied[local] = wanted_enabled

    async def drain(self, within_s: float) -> None:
        """Orderly stop: every connected identity sends what is queued (the StopTransactions
        the sessions just recorded) and takes in the answers, for about two thirds of
        ``within_s``; then no new CALL starts and the one in flight is waited for, in the rest.
        Every answer received is written when the sender ends, so nothing answered is sent
        again at the next start."""
        senders = [s.sender for s in self.sessions.values() if s.link.accepted]
        if not senders:
            return
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + within_s
        try:
            async with asyncio.timeout(within_s * SEND_SHARE):
                await asyncio.gather(*(s.drained() for s in senders))
        except TimeoutError:
            log.warning("stopping with transaction messages queued; sent at the next start",
                        within_s=within_s)  # fmt: skip
        try:
            async with asyncio.timeout(max(0.0, deadline_s - loop.time())):
                await asyncio.gather(*(s.close() for s in senders))
        except TimeoutError:
            log.warning("stopping with a CALL unanswered; it is sent again at the next start")

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> str | None:
        """CP-initiated DataTransfer on the first accepted link; the CSMS status, None offline."""
        session = self._accepted_session()
        if not isinstance(session, LinkSession):
            return None  # 2.x DataTransfer is not offered yet
        request = call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)
        result = await session.call(request)
        return str(result.status)

    def _accepted_session(self) -> Session | None:
        return next((s for s in self.sessions.values() if s.link.accepted), None)

    async def authorize(self, id_tag: str, key_code: bool = False) -> AuthResult | None:
        """Ask the CSMS (``key_code``: about a typed code; 1.6 has no token types, its idTag
        is the code); None when no link is accepted or no valid answer came in time."""
        session = self._accepted_session()
        if session is None:
            return None
        try:
            if not isinstance(session, LinkSession):
                return await session.authorize(id_tag, key_code=key_code)
            result = await session.call(call.Authorize(id_tag=id_tag))
        except (*CONNECTION_ERRORS, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.warning("authorize got no answer", error=repr(exc))
            return None
        return _auth_entry(id_tag, result.id_tag_info)


def _auth_entry(id_tag: str, info: dict[str, object]) -> AuthResult:
    expiry = info.get("expiry_date")
    parent = info.get("parent_id_tag")
    return AuthEntry(
        id_tag=id_tag,
        status=AuthStatus(str(info.get("status"))),
        expiry_at_s=from_iso(expiry) if isinstance(expiry, str) else None,
        parent_id_tag=parent if isinstance(parent, str) else None,
    )


async def _raise(link: IdentityLink, kind: SecurityEventKind) -> None:
    if link.security is not None:
        await link.security.raise_event(kind)


async def _refused(link: IdentityLink, group: BaseExceptionGroup[BaseException]) -> bool:
    """A connection refused for a security reason: logged as such and raised once per outage
    (True); anything else is for the caller to log (False)."""
    found = refusal(group.exceptions[0])
    if found is None or link.security is None:
        return False
    await link.security.refused(found)
    return True


def _going_away(exc: BaseException) -> bool:
    """A Reset or our own stop: the connection ends on purpose, not through an error."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup((RebootRequested, asyncio.CancelledError)) is not None
    return isinstance(exc, asyncio.CancelledError)


def _why(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.subgroup(RebootRequested) is not None:
        return "reset"
    return "stopping"


async def _close_going_away(ws: ClientConnection, reason: str) -> None:
    """Close with 1001 (going away) instead of the 1011 (internal error) an exception leaving
    the connection's ``async with`` would send; bounded, a dead peer answers no close."""
    with contextlib.suppress(*CONNECTION_ERRORS, asyncio.CancelledError):
        async with asyncio.timeout(CLOSE_WAIT_S):
            await ws.close(CloseCode.GOING_AWAY, reason)


def _first(group: BaseExceptionGroup[BaseException]) -> str:
    return repr(group.exceptions[0])


def _above_floor(link: IdentityLink, profile: NetworkProfile | None) -> bool:
    """The security profile never goes down below one the station connected with."""
    if link.network is None or profile is None or profile.security_profile >= link.network.floor:
        return True
    log.error("not connecting: the security profile never goes down", identity=link.identity,
              profile=profile.security_profile, used_before=link.network.floor)  # fmt: skip
    return False


def _opened(link: IdentityLink, profile: NetworkProfile | None, tls: TlsFiles) -> None:
    """The websocket opened: the network profile and a new client pair proved themselves."""
    if link.network is not None and profile is not None:
        link.network.connected(profile)
    if tls.client is not None and tls.client.new and link.certificates is not None:
        link.certificates.new_pair_worked()
    if link.security is not None:
        link.security.once.connected()


def _not_opened(
    link: IdentityLink, profile: NetworkProfile | None, tls: TlsFiles, error: BaseException | None
) -> None:
    """No connection: a new network profile is given up for the one before (by priority: the
    next is tried after NetworkProfileConnectionAttempts); a new client pair only when the
    CSMS's TLS refused it, not when the CSMS could not be reached."""
    if link.network is not None and profile is not None:
        link.network.failed(profile, link.config.int_value(CONNECTION_ATTEMPTS_KEY, 3))
    new_pair = tls.client is not None and tls.client.new and link.certificates is not None
    if new_pair and link.certificates is not None and error is not None and pair_refused(error):
        link.certificates.new_pair_failed()
    elif new_pair:
        log.info("new station certificate kept: the CSMS was not reached", identity=link.identity)


def _offering(settings: OcppSettings, versions: tuple[str, ...] | None) -> OcppSettings:
    """The settings of an identity that offers ``versions`` (None: the settings' own)."""
    if versions is None or versions == settings.versions:
        return settings
    return settings.model_copy(update={"version": list(versions)})


def _with_network(settings: OcppSettings, profile: NetworkProfile | None) -> OcppSettings:
    """The settings with the network profile of this attempt (the CSMS may have set one)."""
    if profile is None:
        return settings
    update = {"url": profile.url, "security_profile": profile.security_profile,
              "call_timeout_s": profile.message_timeout_s}  # fmt: skip
    if all(getattr(settings, key) == value for key, value in update.items()):
        return settings  # the configured profile: no copy for the connection to keep
    return settings.model_copy(update=update)


def _with_ping(settings: OcppSettings, link: IdentityLink) -> OcppSettings:
    """The settings with the ping period the CSMS set (WebSocketPingInterval), taken at each
    connect."""
    ping_s = link.config.int_value("WebSocketPingInterval", 0)
    if not ping_s or float(ping_s) == settings.ping_interval_s:
        return settings  # a copy would be kept by every connection for its lifetime
    return settings.model_copy(update={"ping_interval_s": float(ping_s)})
