"""The reservation book of the session manager: durable first, then in memory.

Rules live in ``domain.reservations``; this class persists what they decide and answers the
session manager's questions (who may start where, which reservation a start consumes).

Connector-0 reservations (``"<identity>:0"``) need to know which connectors an identity has:
``route`` gives each connector's uplink identity; without it none is accepted. The manager
passes ``idle`` (every connector id -> no session and nothing plugged) where that matters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Protocol

from edge_controller.domain.commands import Reserve
from edge_controller.domain.sessions import reservations as rules
from edge_controller.domain.sessions.authorization import AuthEntry
from edge_controller.domain.sessions.reservations import (
    Condition,
    Pool,
    Reservation,
    ReserveAnswer,
    ReserveDecision,
    identity_of_any,
)
from edge_controller.domain.sessions.state import Action, Authorization, OpenSession
from edge_controller.domain.sessions.tokens import masked
from edge_controller.log import get_logger
from edge_controller.storage.errors import StorageError
from edge_controller.storage.reservations_store import ReservationStore

log = get_logger("sessions.reservations")
Route = Callable[[str], str | None]


class TagEntries(Protocol):
    """Where a tag's parent is known from (``storage.auth_store.AuthStore``)."""

    async def local_entry(self, id_tag: str) -> AuthEntry | None: ...
    async def cached(self, id_tag: str) -> AuthEntry | None: ...


class ReservationBook:
    def __init__(
        self, store: ReservationStore, tags: TagEntries | None = None, route: Route | None = None
    ) -> None:
        self._store = store
        self._tags = tags
        self._route = route
        self._book: dict[str, Reservation] = {}  # specific connector -> its reservation
        self._any: dict[int, Reservation] = {}  # connector-0 reservations by id
        self.on_change: Callable[[], None] = lambda: None  # a reservation kept or dropped

    @property
    def any_connector_held(self) -> bool:
        """Whether a connector-0 reservation is kept (it shows on its station's free ones)."""
        return bool(self._any)

    async def load(self, connector_ids: Iterable[str], now_s: float) -> None:
        """Reservations kept across a restart; expired ones and unknown connectors are dropped."""
        known = set(connector_ids)
        identities = {self._identity(c) for c in known}
        for reservation in await self._store.all():
            scope = identity_of_any(reservation.connector_id)
            place_known = (
                reservation.connector_id in known if scope is None else scope in identities
            )
            if place_known and reservation.live(now_s):
                self._keep(reservation)
            else:
                await self._store.remove(reservation.reservation_id)

    def live_ids(self, now_s: float) -> frozenset[int]:
        """Ids of every live reservation, specific or connector-0 (shown or not)."""
        return frozenset(r.reservation_id for r in self._all() if r.live(now_s))

    def held(self, connector_id: str, now_s: float) -> Reservation | None:
        """The live specific-connector reservation on a connector, if any."""
        reservation = self._book.get(connector_id)
        return reservation if reservation is not None and reservation.live(now_s) else None

    def for_group(self, connector_id: str, now_s: float) -> bool:
        """Whether a live reservation that may hold this connector is for a group of id tags
        (whose members are known only once the CSMS answers for them)."""
        held = self.held(connector_id, now_s)
        if held is not None:
            return held.parent_id_tag is not None
        identity = self._identity(connector_id)
        return any(
            r.parent_id_tag is not None and r.live(now_s)
            for r in self._any.values()
            if identity_of_any(r.connector_id) == identity
        )

    def shown(
        self, connector_id: str, idle: Callable[[], Mapping[str, bool]], now_s: float
    ) -> Reservation | None:
        """What holds a connector on the status surfaces: its own reservation, or a connector-0
        reservation once those need every free connector of its identity. ``idle`` is asked
        only then: it walks every connector, and the views ask this for each of them."""
        held = self.held(connector_id, now_s)
        identity = self._identity(connector_id)
        if held is not None or identity is None or not self._any:
            return held
        return rules.shown_reserved(self.pool(identity, idle(), now_s), now_s).get(connector_id)

    def pool(
        self, identity: str, idle: Mapping[str, bool], now_s: float, but_id: int | None = None
    ) -> Pool:
        """One identity's connectors and connector-0 reservations (without the one ``but_id``,
        about to be replaced: its connector counts as free)."""
        conditions = {}
        for cid, is_idle in idle.items():
            if self._identity(cid) == identity:
                held = self.held(cid, now_s)
                free = is_idle and (held is None or held.reservation_id == but_id)
                conditions[cid] = Condition.FREE if free else Condition.OCCUPIED
        mine = [
            r
            for r in self._any.values()
            if identity_of_any(r.connector_id) == identity and r.reservation_id != but_id
        ]
        return Pool(conditions, mine)

    async def reserve(
        self, command: Reserve, condition: Condition, now_s: float, idle: Mapping[str, bool]
    ) -> ReserveAnswer:
        request = Reservation(
            command.reservation_id, command.connector_id, command.id_tag,
            command.expiry_at_s, command.parent_id_tag,
        )  # fmt: skip
        decision = self._decide(request, condition, now_s, idle)
        if decision.answer is not ReserveAnswer.ACCEPTED:
            log.info("reservation refused", reservation_id=request.reservation_id,
                     connector_id=request.connector_id, reason=decision.reason)  # fmt: skip
            return decision.answer
        try:
            await self._store.put(request, now_s)
        except StorageError as exc:
            log.error("reservation not recorded", reservation_id=request.reservation_id,
                      error=str(exc))  # fmt: skip
            return ReserveAnswer.REJECTED
        self._forget(request.reservation_id)
        self._keep(request)
        log.info("connector reserved", reservation_id=request.reservation_id,
                 connector_id=request.connector_id, token=masked(request.id_tag))  # fmt: skip
        return ReserveAnswer.ACCEPTED

    async def cancel(self, reservation_id: int) -> bool:
        """Drop a reservation by id; False when there is none."""
        found = next((r for r in self._all() if r.reservation_id == reservation_id), None)
        if found is None:
            return False
        await self._drop(found, "cancelled")
        return True

    async def used(self, connector_id: str, opened_by: Action) -> None:
        """A session was opened: the reservation it used (if any) has done its job."""
        if not isinstance(opened_by, OpenSession) or opened_by.auth.reservation_id is None:
            return
        rid = opened_by.auth.reservation_id
        found = self._book.get(connector_id)
        if found is None or found.reservation_id != rid:
            found = self._any.get(rid)
        if found is not None:
            await self._drop(found, "used")

    async def expire(self, now_s: float) -> None:
        for reservation in [r for r in self._all() if not r.live(now_s)]:
            await self._drop(reservation, "expired")

    async def admit(
        self, connector_id: str, auth: Authorization, now_s: float, idle: Mapping[str, bool]
    ) -> Authorization | None:
        """``auth`` marked with the reservation it uses, or None when the connector is held
        for someone else. A tag without a known parent is looked up (remote starts)."""
        held = self.held(connector_id, now_s)
        if held is None:
            return await self._admit_any(connector_id, auth, now_s, idle)
        parent = await self._parent(auth, [held])
        if not rules.reservation_allows(held, auth.id_tag, parent, now_s):
            log.info("start refused: connector reserved", connector_id=connector_id,
                     token=masked(auth.id_tag), reservation_id=held.reservation_id)  # fmt: skip
            return None
        return replace(auth, reservation_id=held.reservation_id)

    async def _admit_any(
        self, connector_id: str, auth: Authorization, now_s: float, idle: Mapping[str, bool]
    ) -> Authorization | None:
        identity = self._identity(connector_id)
        if identity is None or not self._any:
            return auth
        pool = self.pool(identity, idle, now_s)
        waiting = pool.live(now_s)
        if not waiting:
            return auth
        parent = await self._parent(auth, waiting)
        verdict = rules.decide_start_any(pool, connector_id, auth.id_tag, parent, now_s)
        if not verdict.allowed:
            log.info("start refused: connector kept for connector-0 reservations",
                     connector_id=connector_id, token=masked(auth.id_tag),
                     waiting=len(waiting))  # fmt: skip
            return None
        if verdict.uses is None:
            return auth
        return replace(auth, reservation_id=verdict.uses.reservation_id)

    def _decide(
        self, request: Reservation, condition: Condition, now_s: float, idle: Mapping[str, bool]
    ) -> ReserveDecision:
        rid = request.reservation_id
        scope = identity_of_any(request.connector_id)
        if scope is not None:
            return rules.decide_reserve_any(self.pool(scope, idle, now_s, rid), request, now_s)
        decision = rules.decide_reserve(self._book, request, condition, now_s)
        identity = self._identity(request.connector_id)
        if decision.answer is not ReserveAnswer.ACCEPTED or identity is None or not self._any:
            return decision
        pool = self.pool(identity, idle, now_s, rid)
        if rules.leaves_enough(pool, request.connector_id, now_s):
            return decision
        return ReserveDecision(ReserveAnswer.OCCUPIED, "kept free for connector-0 reservations")

    def _identity(self, connector_id: str) -> str | None:
        return None if self._route is None else self._route(connector_id)

    def _all(self) -> list[Reservation]:
        return [*self._book.values(), *self._any.values()]

    def _keep(self, reservation: Reservation) -> None:
        if reservation.any_connector:
            self._any[reservation.reservation_id] = reservation
        else:
            self._book[reservation.connector_id] = reservation
        self.on_change()

    def _forget(self, reservation_id: int) -> None:
        """Out of memory (a replaced or ended reservation)."""
        self._any.pop(reservation_id, None)
        for cid in [c for c, r in self._book.items() if r.reservation_id == reservation_id]:
            del self._book[cid]
        self.on_change()

    async def _parent(self, auth: Authorization, reservations: list[Reservation]) -> str | None:
        """The tag's group, looked up only when a reservation is for a group."""
        if auth.parent_id_tag is not None or all(r.parent_id_tag is None for r in reservations):
            return auth.parent_id_tag
        return await self._parent_of(auth.id_tag)

    async def _parent_of(self, id_tag: str) -> str | None:
        if self._tags is None:
            return None
        try:
            entry = await self._tags.local_entry(id_tag) or await self._tags.cached(id_tag)
        except StorageError:
            return None
        return None if entry is None else entry.parent_id_tag

    async def _drop(self, reservation: Reservation, why: str) -> None:
        # Memory first: a failed delete must not keep holding the connector. The row left behind
        # comes back only after a restart, and only until it expires (``load`` drops it then).
        self._forget(reservation.reservation_id)
        try:
            await self._store.remove(reservation.reservation_id)
        except StorageError as exc:
            log.error("reservation end not recorded", reservation_id=reservation.reservation_id,
                      error=str(exc))  # fmt: skip
        log.info("reservation ended", reservation_id=reservation.reservation_id,
                 connector_id=reservation.connector_id, why=why)  # fmt: skip
