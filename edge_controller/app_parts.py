"""Small adapters the composition root needs between services (no business rules here)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from edge_controller.domain.authorization import AuthResult
from edge_controller.domain.commands import (
    CancelReservation,
    ChangeSessionRules,
    Command,
    Reserve,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    StartSession,
    StopSession,
)
from edge_controller.domain.model import MeterReading
from edge_controller.domain.phases import reading_to_grid_phases
from edge_controller.domain.snapshot import Availability, DeviceView, SiteView
from edge_controller.ports import Meter
from edge_controller.services.session_events import SessionEvent as RecordedEvent
from edge_controller.services.session_manager import SessionManager
from edge_controller.services.site_controller import SiteController
from edge_controller.storage.outbox import Outbox
from edge_controller.telemetry import CommandResult, MqttService, SessionEvent


class GridPhaseMeter:
    """A meter whose readings are turned into grid phase order (its phase rotation)."""

    def __init__(self, meter: Meter, wiring: tuple[int, ...]) -> None:
        self._meter, self._wiring = meter, wiring

    async def read(self) -> MeterReading:
        return reading_to_grid_phases(await self._meter.read(), self._wiring)


class CommandRouter:
    """Sends each operator/local-app command to the service that owns that state."""

    def __init__(self, site: SiteController, sessions: SessionManager) -> None:
        self._site, self._sessions = site, sessions

    async def submit(self, command: Command) -> CommandResult:
        try:
            match command:
                case SetSiteLimit() | SetConnectorLimit() | SetConnectorEnabled():
                    await self._site.apply(command)
                case StartSession() | StopSession():
                    if not await self._sessions.on_command(command):
                        return CommandResult(False, f"{command.connector_id}: not possible now")
                case ChangeSessionRules():
                    self._sessions.change_rules(command)
                case Reserve() | CancelReservation():
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

    def add_devices(self, source: Callable[[], Sequence[DeviceView]]) -> None:
        self._devices.append(source)

    def set_uplink(self, source: Callable[[], tuple[bool, int]]) -> None:
        self._uplink = source

    def compose(self, view: SiteView) -> SiteView:
        connectors = []
        for connector in view.connectors:
            record = self._sessions.open_session(connector.connector_id)
            c = connector
            held = self._sessions.reserved(connector.connector_id) if record is None else None
            if held is not None:
                free = connector.availability is Availability.AVAILABLE
                shown = Availability.RESERVED if free else connector.availability
                c = dataclasses.replace(
                    connector, availability=shown, reservation_id=held.reservation_id
                )
            if record is not None:
                c = dataclasses.replace(
                    connector,
                    session_id=str(record.local_id),
                    id_tag=record.id_tag,
                )
            connectors.append(c)
        online, backlog = self._uplink()
        extra = tuple(d for source in self._devices for d in source())
        return dataclasses.replace(
            view,
            connectors=tuple(connectors),
            devices=view.devices + extra,
            uplink_online=online,
            outbox_backlog=backlog,
        )

    def current(self) -> SiteView:
        return self.compose(self._site.snapshot())

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
