"""The status views: each connector as the control loop and the session side see it together
(``ConnectorViews``, what the uplink reports), and the whole site's view with the uplink and
device health added (``SiteViews``, what MQTT, ``status`` and GetDiagnostics show)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from edge_controller.domain.snapshot import ConnectorState, ConnectorView, DeviceView, SiteView
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.manager import SessionManager

UplinkState = Callable[[], tuple[bool, int]]  # (online, outbox backlog)
Held = Callable[[], tuple[int, int]]  # (parked outbox messages, unknown payment outcomes)


class ConnectorViews:
    """Each connector: the control loop's view joined with the session side's
    (``SessionManager.connector_view``), and the live reservations."""

    def __init__(self, site: SiteController, sessions: SessionManager) -> None:
        self._site, self._sessions = site, sessions
        self._indexed: SiteView | None = None  # the snapshot ``_by_id`` was made from
        self._by_id: dict[str, ConnectorView] = {}

    def join(self, view: SiteView) -> tuple[ConnectorView, ...]:
        return tuple(self._sessions.connector_view(c) for c in view.connectors)

    def connectors(self) -> tuple[ConnectorView, ...]:
        return self.join(self._site.snapshot())

    def connectors_of(self, connector_ids: Collection[str]) -> list[ConnectorView]:
        """Only these connectors joined."""
        found = map(self._indexed_snapshot().get, connector_ids)
        return [self._sessions.connector_view(c) for c in found if c is not None]

    def states_of(self, connector_ids: Collection[str]) -> list[ConnectorState]:
        """Only the status, session and fault of these connectors: no prices, no copy."""
        found = map(self._indexed_snapshot().get, connector_ids)
        return [self._sessions.connector_state(c) for c in found if c is not None]

    def _indexed_snapshot(self) -> dict[str, ConnectorView]:
        """The latest snapshot's connectors by id, indexed once per snapshot."""
        snapshot = self._site.snapshot()
        if snapshot is not self._indexed:
            self._by_id = {c.connector_id: c for c in snapshot.connectors}
            self._indexed = snapshot
        return self._by_id

    def reservation_ids(self) -> frozenset[int]:
        return self._sessions.reservation_ids()


@dataclass(frozen=True)
class StorageState:
    """What the views show of the storage: the guard's alarm, and what is held for an
    operator (``app.attention``)."""

    alarm: Callable[[], str | None] = lambda: None
    held: Held = lambda: (0, 0)


class SiteViews:
    """The whole site's status view: the control loop's snapshot joined with the session side,
    plus the uplink's state and the health of the buses, readers and storage."""

    def __init__(
        self,
        site: SiteController,
        connectors: ConnectorViews,
        devices: Sequence[Callable[[], Sequence[DeviceView]]] = (),
        uplink: UplinkState = lambda: (False, 0),
        storage: StorageState | None = None,
    ) -> None:
        self._site, self._connectors, self._devices = site, connectors, tuple(devices)
        self._uplink, self._storage = uplink, storage or StorageState()
        self._joined: tuple[SiteView, SiteView] | None = None  # (snapshot, its joined view)

    def compose(self, view: SiteView) -> SiteView:
        online, backlog = self._uplink()
        parked, payments_unknown = self._storage.held()
        extra = tuple(d for source in self._devices for d in source())
        return dataclasses.replace(
            view,
            connectors=self._connectors.join(view),
            devices=view.devices + extra,
            uplink_online=online,
            outbox_backlog=backlog,
            outbox_parked=parked,
            payments_unknown=payments_unknown,
            storage_alarm=self._storage.alarm(),
        )

    def current(self) -> SiteView:
        return self.compose(self._site.snapshot())

    async def next_view(self) -> SiteView:
        """The next control-loop snapshot, joined like ``current``. Every reader woken by the
        same snapshot (MQTT, the fault watch) gets the one view joined for it: joining walks
        every connector, and at a thousand of them once per tick is enough."""
        snapshot = await self._site.next_snapshot()
        if self._joined is None or self._joined[0] is not snapshot:
            self._joined = (snapshot, self.compose(snapshot))
        return self._joined[1]
