"""The whole site's status view, joined from the control loop, sessions, uplink and devices."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from edge_controller.domain.pricing.codec import ad_hoc_json, running_cost_json
from edge_controller.domain.sessions import connector_status
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.sessions_store import SessionRecord

NOTED = (Availability.AVAILABLE, Availability.PREPARING)  # where a given-up start is explained


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
        self._pricing: SessionPricing | None = None

    def set_pricing(self, pricing: SessionPricing) -> None:
        self._pricing = pricing

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

    async def next_view(self) -> SiteView:
        """The next control-loop snapshot, joined like ``current``."""
        return self.compose(await self._site.next_snapshot())

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
            session_started_s=None if record is None else record.start_at_s,
            plug_wait_token=None if wait is None else wait.token,
            plug_wait_until_s=None if wait is None else wait.until_s,
            status_info=sessions.note(cid) if shown in NOTED else None,
            **self._prices(cid, record),
        )

    def _prices(self, cid: str, record: SessionRecord | None) -> dict[str, Any]:
        """The price before a start, the running session's cost so far, and what the CSMS
        calculated."""
        if self._pricing is None:
            return {}
        offer = self._pricing.ad_hoc(cid)
        running = self._pricing.running(cid) if record is not None else None
        return {
            "price": None if offer is None else ad_hoc_json(offer),
            "running_cost": None if running is None else running_cost_json(running),
            "csms_cost": self._pricing.central(cid, None if record is None else record.id_tag),
        }

    def reservation_ids(self) -> frozenset[int]:
        return self._sessions.reservation_ids()
