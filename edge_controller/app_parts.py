"""Small adapters the composition root needs between services (no business rules here)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from edge_controller.domain import connector_status
from edge_controller.domain.authorization import AuthResult
from edge_controller.domain.commands import (
    CancelReservation,
    ChangeSessionRules,
    Command,
    CommandResult,
    Reserve,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    StartSession,
    StopSession,
)
from edge_controller.domain.model import MeterReading
from edge_controller.domain.phases import reading_to_grid_phases
from edge_controller.domain.reservations import ReserveAnswer
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.ports import Meter
from edge_controller.services.session_events import SessionEvent as RecordedEvent
from edge_controller.services.session_manager import SessionManager
from edge_controller.services.site_controller import SiteController
from edge_controller.storage.outbox import Outbox
from edge_controller.telemetry import MqttService, SessionEvent

NOTED = (Availability.AVAILABLE, Availability.PREPARING)  # where a given-up start is explained


class GridPhaseMeter:
    """A meter whose readings are turned into grid phase order (its phase rotation)."""

    def __init__(self, meter: Meter, wiring: tuple[int, ...]) -> None:
        self._meter, self._wiring = meter, wiring

    async def read(self) -> MeterReading:
        return reading_to_grid_phases(await self._meter.read(), self._wiring)


class CommandRouter:
    """The command port: every entry point (CSMS, MQTT, later the web) hands its commands here
    and gets the owning service's own decision back. Starts are authorised by the session side
    (``SessionManager.start``), whichever entry point sent them."""

    def __init__(self, site: SiteController, sessions: SessionManager) -> None:
        self._site, self._sessions = site, sessions

    async def submit(self, command: Command) -> CommandResult:
        try:
            match command:
                case SetSiteLimit() | SetConnectorLimit() | SetConnectorEnabled():
                    await self._site.apply(command)
                case StartSession():
                    return await self._sessions.start(command)
                case StopSession():
                    return await self._sessions.stop(command)
                case ChangeSessionRules():
                    self._sessions.change_rules(command)
                case Reserve():
                    answer = await self._sessions.reserve(command)
                    ok = answer is ReserveAnswer.ACCEPTED
                    error = None if ok else f"reservation {command.reservation_id}: {answer.value}"
                    return CommandResult(ok, error, command.connector_id, answer.value)
                case CancelReservation():
                    if not await self._sessions.on_reservation(command):
                        return CommandResult(False, f"reservation {command.reservation_id} refused")
        except ValueError as exc:
            return CommandResult(False, str(exc))
        return CommandResult(True)


class SiteViews:
    """The whole site's status view: the control loop's snapshot plus sessions, the uplink and
    device health from the buses and readers."""

    def __init__(
        self,
        site: SiteController,
        sessions: SessionManager,
        devices: Sequence[Callable[[], Sequence[DeviceView]]] = (),
        uplink: Callable[[], tuple[bool, int]] = lambda: (False, 0),
    ) -> None:
        self._site, self._sessions = site, sessions
        self._devices, self._uplink = list(devices), uplink
        self._storage_alarm: Callable[[], str | None] = lambda: None

    def add_devices(self, source: Callable[[], Sequence[DeviceView]]) -> None:
        self._devices.append(source)

    def set_uplink(self, source: Callable[[], tuple[bool, int]]) -> None:
        self._uplink = source

    def set_storage_alarm(self, source: Callable[[], str | None]) -> None:
        self._storage_alarm = source

    def compose(self, view: SiteView) -> SiteView:
        connectors = tuple(self._connector(c) for c in view.connectors)
        online, backlog = self._uplink()
        extra = tuple(d for source in self._devices for d in source())
        return dataclasses.replace(
            view,
            connectors=connectors,
            devices=view.devices + extra,
            uplink_online=online,
            outbox_backlog=backlog,
            storage_alarm=self._storage_alarm(),
        )

    def current(self) -> SiteView:
        return self.compose(self._site.snapshot())

    def _connector(self, connector: ConnectorView) -> ConnectorView:
        """The control loop's view of one connector joined with the session side's: its
        status (``domain.connector_status.shown``), session, reservation and plug wait."""
        cid, sessions = connector.connector_id, self._sessions
        try:
            phase = sessions.phase(cid)
        except KeyError:
            return connector  # a connector the session side does not run
        record = sessions.open_session(cid)
        held = sessions.reserved(cid) if record is None else None
        shown = connector_status.shown(connector.availability, phase, held is not None)
        wait = sessions.plug_wait(cid)
        return dataclasses.replace(
            connector,
            availability=shown,
            reservation_id=connector.reservation_id if held is None else held.reservation_id,
            session_id=connector.session_id if record is None else str(record.local_id),
            id_tag=connector.id_tag if record is None else record.id_tag,
            plug_wait_token=None if wait is None else wait.token,
            plug_wait_until_s=None if wait is None else wait.until_s,
            status_info=sessions.note(cid) if shown in NOTED else None,
        )

    def reservation_ids(self) -> frozenset[int]:
        return self._sessions.reservation_ids()


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


class MqttFeed:
    """Feeds the MQTT publisher: every new site snapshot and every recorded session event."""

    def __init__(self, mqtt: MqttService, views: SiteViews, site: SiteController,
                 sessions: SessionManager) -> None:  # fmt: skip
        self._mqtt, self._views, self._site, self._sessions = mqtt, views, site, sessions

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._snapshots())
            group.create_task(self._events())

    async def _snapshots(self) -> None:
        while True:
            self._mqtt.publish_site(self._views.compose(await self._site.next_snapshot()))

    async def _events(self) -> None:
        queue = self._sessions.events.subscribe(maxsize=256)
        while True:
            event: RecordedEvent = await queue.get()
            self._mqtt.publish_session_event(
                SessionEvent(
                    kind=event.kind,
                    connector_id=event.connector_id,
                    session_id=str(event.local_id),
                    at_s=event.at_s,
                    id_tag=event.id_tag,
                    energy_wh=float(event.energy_wh),
                    reason=event.reason,
                )
            )
