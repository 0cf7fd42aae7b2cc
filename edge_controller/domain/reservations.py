"""Connector reservations (OCPP 1.6 Reservation profile): pure rules, time is an argument.

A reservation holds one connector for one id tag (or any tag of the same parent group) until it
expires, is cancelled, or that tag starts a session there. The caller keeps the book (connector
id -> reservation) and applies what these functions decide.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from edge_controller.domain.snapshot import Availability


class ReserveAnswer(enum.Enum):
    """OCPP 1.6 ReservationStatus."""

    ACCEPTED = "Accepted"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    REJECTED = "Rejected"
    UNAVAILABLE = "Unavailable"


class Condition(enum.Enum):
    """What a connector is doing, as far as a reservation cares."""

    FREE = "free"
    OCCUPIED = "occupied"
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    connector_id: str
    id_tag: str
    expiry_at_s: float
    parent_id_tag: str | None = None

    def live(self, now_s: float) -> bool:
        return now_s < self.expiry_at_s


@dataclass(frozen=True, slots=True)
class ReserveDecision:
    answer: ReserveAnswer
    reason: str
    replaces: Reservation | None = None
    """An existing reservation with the same id, to drop when the new one is stored."""


_CONDITIONS = {
    Availability.AVAILABLE: Condition.FREE,
    Availability.RESERVED: Condition.FREE,  # reserved: the book says by whom
    Availability.FAULTED: Condition.FAULTED,
    Availability.UNAVAILABLE: Condition.UNAVAILABLE,
}


def condition_of(availability: Availability, inoperative: bool = False) -> Condition:
    """A connector's condition from its status-surface availability."""
    if availability is Availability.FAULTED:
        return Condition.FAULTED
    if inoperative:
        return Condition.UNAVAILABLE
    return _CONDITIONS.get(availability, Condition.OCCUPIED)


def decide_reserve(
    book: Mapping[str, Reservation], request: Reservation, condition: Condition, now_s: float
) -> ReserveDecision:
    """Whether ``request`` may be placed on its connector now.

    A request with the id of an existing reservation replaces it (OCPP 1.6 ReserveNow)."""
    if not request.live(now_s):
        return ReserveDecision(ReserveAnswer.REJECTED, "expiry date already passed")
    if condition is Condition.FAULTED:
        return ReserveDecision(ReserveAnswer.FAULTED, "connector faulted")
    if condition is Condition.UNAVAILABLE:
        return ReserveDecision(ReserveAnswer.UNAVAILABLE, "connector unavailable")
    held = book.get(request.connector_id)
    if held is not None and held.live(now_s) and held.reservation_id != request.reservation_id:
        return ReserveDecision(ReserveAnswer.OCCUPIED, f"reserved ({held.reservation_id})")
    if condition is Condition.OCCUPIED:
        return ReserveDecision(ReserveAnswer.OCCUPIED, "connector in use")
    same_id = find(book, request.reservation_id)
    return ReserveDecision(ReserveAnswer.ACCEPTED, "reserved", same_id)


def find(book: Mapping[str, Reservation], reservation_id: int) -> Reservation | None:
    return next((r for r in book.values() if r.reservation_id == reservation_id), None)


def may_start(
    reservation: Reservation | None, id_tag: str, parent_id_tag: str | None, now_s: float
) -> bool:
    """Whether ``id_tag`` may start a session on a connector holding ``reservation``."""
    if reservation is None or not reservation.live(now_s):
        return True
    if id_tag.upper() == reservation.id_tag.upper():
        return True
    return (
        reservation.parent_id_tag is not None
        and parent_id_tag is not None
        and reservation.parent_id_tag.upper() == parent_id_tag.upper()
    )


def tap_preference(reservation: Reservation | None, id_tag: str) -> int:
    """Order for a card tapped on a reader shared by waiting connectors (lowest first): the one
    reserved for it, then free ones, then those held for someone else."""
    if reservation is None:
        return 1
    return 0 if reservation.id_tag.upper() == id_tag.upper() else 2


def expired(book: Mapping[str, Reservation], now_s: float) -> list[Reservation]:
    """Reservations whose time is up, to remove from the book."""
    return [r for r in book.values() if not r.live(now_s)]
