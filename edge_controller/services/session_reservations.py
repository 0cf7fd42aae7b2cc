"""The reservation book of the session manager: durable first, then in memory.

Rules live in ``domain.reservations``; this class persists what they decide and answers the
session manager's questions (who may start where, which reservation a start consumes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from edge_controller.domain import reservations as rules
from edge_controller.domain.authorization import AuthEntry
from edge_controller.domain.commands import Reserve
from edge_controller.domain.reservations import Condition, Reservation, ReserveAnswer
from edge_controller.domain.sessions import Action, Authorization, OpenSession
from edge_controller.log import get_logger
from edge_controller.storage.errors import StorageError
from edge_controller.storage.reservations_store import ReservationStore

log = get_logger("sessions.reservations")


class TagEntries(Protocol):
    """Where a tag's parent is known from (``storage.auth_store.AuthStore``)."""

    async def local_entry(self, id_tag: str) -> AuthEntry | None: ...
    async def cached(self, id_tag: str) -> AuthEntry | None: ...


class ReservationBook:
    def __init__(self, store: ReservationStore, tags: TagEntries | None = None) -> None:
        self._store = store
        self._tags = tags
        self._book: dict[str, Reservation] = {}

    async def load(self, connector_ids: Iterable[str], now_s: float) -> None:
        """Reservations kept across a restart; expired ones and unknown connectors are dropped."""
        known = set(connector_ids)
        for reservation in await self._store.all():
            if reservation.connector_id in known and reservation.live(now_s):
                self._book[reservation.connector_id] = reservation
            else:
                await self._store.remove(reservation.reservation_id)

    def held(self, connector_id: str, now_s: float) -> Reservation | None:
        """The live reservation on a connector, if any."""
        reservation = self._book.get(connector_id)
        return reservation if reservation is not None and reservation.live(now_s) else None

    async def reserve(self, command: Reserve, condition: Condition, now_s: float) -> ReserveAnswer:
        request = Reservation(
            command.reservation_id, command.connector_id, command.id_tag,
            command.expiry_at_s, command.parent_id_tag,
        )  # fmt: skip
        decision = rules.decide_reserve(self._book, request, condition, now_s)
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
        if decision.replaces is not None:
            self._book.pop(decision.replaces.connector_id, None)
        self._book[request.connector_id] = request
        log.info("connector reserved", reservation_id=request.reservation_id,
                 connector_id=request.connector_id, id_tag=request.id_tag)  # fmt: skip
        return ReserveAnswer.ACCEPTED

    async def cancel(self, reservation_id: int) -> bool:
        """Drop a reservation by id; False when there is none."""
        found = rules.find(self._book, reservation_id)
        if found is None:
            return False
        await self._drop(found, "cancelled")
        return True

    async def used(self, connector_id: str, opened_by: Action) -> None:
        """A session was opened: the reservation it used (if any) has done its job."""
        if not isinstance(opened_by, OpenSession) or opened_by.auth.reservation_id is None:
            return
        found = self._book.get(connector_id)
        if found is not None and found.reservation_id == opened_by.auth.reservation_id:
            await self._drop(found, "used")

    async def expire(self, now_s: float) -> None:
        for reservation in rules.expired(self._book, now_s):
            await self._drop(reservation, "expired")

    async def admit(
        self, connector_id: str, auth: Authorization, now_s: float
    ) -> Authorization | None:
        """``auth`` marked with the reservation it uses, or None when the connector is held
        for someone else. A tag without a known parent is looked up (remote starts)."""
        held = self.held(connector_id, now_s)
        if held is None:
            return auth
        parent = auth.parent_id_tag
        if parent is None and held.parent_id_tag is not None:
            parent = await self._parent_of(auth.id_tag)
        if not rules.may_start(held, auth.id_tag, parent, now_s):
            log.info("start refused: connector reserved", connector_id=connector_id,
                     id_tag=auth.id_tag, reservation_id=held.reservation_id)  # fmt: skip
            return None
        return replace(auth, reservation_id=held.reservation_id)

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
        self._book.pop(reservation.connector_id, None)
        try:
            await self._store.remove(reservation.reservation_id)
        except StorageError as exc:
            log.error("reservation end not recorded", reservation_id=reservation.reservation_id,
                      error=str(exc))  # fmt: skip
        log.info("reservation ended", reservation_id=reservation.reservation_id,
                 connector_id=reservation.connector_id, why=why)  # fmt: skip
