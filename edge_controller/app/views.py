"""The status views: each connector as the control loop and the session side see it together
(``ConnectorViews``, what the uplink reports), and the whole site's view with the uplink and
device health added (``SiteViews``, what MQTT, ``status`` and GetDiagnostics show)."""

from __future__ import annotations

import dataclasses
import heapq
import operator
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from edge_controller.domain.snapshot import ConnectorState, ConnectorView, DeviceView, SiteView
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.manager import SessionManager

UplinkState = Callable[[], tuple[bool, int]]  # (online, outbox backlog)
Held = Callable[[], tuple[int, int]]  # (parked outbox messages, unknown payment outcomes)
# The fields of a connector's view the control loop gives and its joined view shows (but its
# time, its read statistics and its session energy, which ``ChangedViews`` is told about).
_CONTROL_STATE = operator.attrgetter(
    "availability", "offered_current_a", "measured_current_a", "power_w", "limit_reason",
    "fault_text", "session_id", "reservation_id", "id_tag",
)  # fmt: skip


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

    def changes(self) -> ChangedViews:
        """A follower of the connectors whose joined views change, from now on."""
        return ChangedViews(self._sessions)


class ChangedViews:
    """The joined views of the connectors whose state may have changed since the last
    snapshot, and no other: their control loop's fields (``_CONTROL_STATE``), a change the
    session side marked (``SessionManager.changes``), what it shows running out
    (``SessionManager.shown_until_s``), or whatever ``due`` asks for (an energy to publish).
    At a thousand connectors, joining each one's view at every snapshot to find the few that
    changed cost more than the rest of what MQTT publishes."""

    def __init__(
        self,
        sessions: SessionManager,
        clock: Callable[[], float] | None = None,
        *,
        keep: bool = True,
    ) -> None:
        """``keep``: keep each connector's latest joined view (``latest``)."""
        self._sessions, self._clock, self._keep = sessions, clock or sessions.clock, keep
        self._marks = sessions.watch_shown()
        self._seen: dict[str, tuple[object, ...]] = {}  # connector -> its fields last joined
        self._until: dict[str, float] = {}  # connector -> until when its joined view holds
        self._ends: list[tuple[float, str]] = []  # heap of those (stale entries skipped)
        self.latest: dict[str, ConnectorView] = {}  # connector -> its latest joined view

    def changed(
        self, snapshot: SiteView, due: Callable[[ConnectorView], bool] = lambda _v: False
    ) -> list[ConnectorView]:
        """The views joined for ``snapshot``'s connectors that changed, in its order."""
        ids, every = self._marks.take()
        ids |= self._ended()
        seen, found = self._seen, []
        for raw in snapshot.connectors:
            cid, fields = raw.connector_id, _CONTROL_STATE(raw)
            if (
                not every
                and cid not in ids
                and seen.get(cid) == fields
                # Asked of the publisher, not of the energy last joined: a join for another
                # reason while the energy was not yet due would hold it back for good.
                and not due(raw)
            ):
                continue
            seen[cid] = fields
            view = self._sessions.connector_view(raw)
            if self._keep:
                self.latest[cid] = view
            self._hold_until(cid, self._sessions.shown_until_s(cid))
            found.append(view)
        return found

    def _hold_until(self, cid: str, until_s: float | None) -> None:
        if until_s is None:
            self._until.pop(cid, None)
        elif self._until.get(cid) != until_s:
            self._until[cid] = until_s
            heapq.heappush(self._ends, (until_s, cid))

    def _ended(self) -> set[str]:
        """The connectors whose joined view held until now."""
        now_s, ends, ended = self._clock(), self._ends, set()
        while ends and ends[0][0] <= now_s:
            until_s, cid = heapq.heappop(ends)
            if self._until.get(cid) == until_s:
                del self._until[cid]
                ended.add(cid)
        return ended


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
        # (snapshot, its view) as last composed, joined and not (``next_view``).
        self._composed: dict[bool, tuple[SiteView, SiteView]] = {}
        self._changes: ChangedViews | None = None  # what ``next_view`` joins again

    def compose(self, view: SiteView, *, joined: bool = True) -> SiteView:
        """The snapshot with the uplink's state and the devices' health; its connectors joined
        with the session side's fields, or as the control loop shows them (``joined`` False:
        for what needs only the charger's side, the site's sums, a fault)."""
        online, backlog = self._uplink()
        parked, payments_unknown = self._storage.held()
        extra = tuple(d for source in self._devices for d in source())
        return dataclasses.replace(
            view,
            connectors=self._connectors.join(view) if joined else view.connectors,
            devices=view.devices + extra,
            uplink_online=online,
            outbox_backlog=backlog,
            outbox_parked=parked,
            payments_unknown=payments_unknown,
            storage_alarm=self._storage.alarm(),
        )

    def current(self) -> SiteView:
        return self.compose(self._site.snapshot())

    async def next_snapshot(self) -> SiteView:
        """The control loop's next snapshot, as it is (``compose`` adds the rest)."""
        return await self._site.next_snapshot()

    async def next_view(self, *, joined: bool = True) -> SiteView:
        """The next control-loop snapshot composed like ``current`` (``joined``: see
        ``compose``). Every reader woken by the same snapshot gets the one view composed for
        it: joining walks every connector, and at a thousand of them once per tick is enough."""
        snapshot = await self._site.next_snapshot()
        last = self._composed.get(joined)
        if last is None or last[0] is not snapshot:
            view = self.compose(snapshot, joined=False)
            if joined:
                view = dataclasses.replace(view, connectors=self._joined_again(snapshot))
            last = (snapshot, view)
            self._composed[joined] = last
        return last[1]

    def _joined_again(self, snapshot: SiteView) -> tuple[ConnectorView, ...]:
        """Every connector of the snapshot joined: those whose state may have changed anew
        (``ChangedViews``), the others with the session side's fields of their last join,
        which are what a join would give them (a copy at a tenth of a join's cost)."""
        if self._changes is None:
            self._changes = self._connectors.changes()
        fresh = {v.connector_id: v for v in self._changes.changed(snapshot)}
        latest = self._changes.latest
        return tuple(
            fresh.get(c.connector_id) or c.with_session_of(latest[c.connector_id])
            for c in snapshot.connectors
        )
