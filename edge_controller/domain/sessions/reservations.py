"""Connector reservations (OCPP 1.6 Reservation profile): pure rules, time is an argument.

A reservation holds one connector for one id tag (or any tag of the same parent group) until it
expires, is cancelled, or that tag starts a session there. The caller keeps the book (connector
id -> reservation) and applies what these functions decide.

A connector-0 reservation (connector id ``"<identity>:0"``) holds no particular connector of that
OCPP identity: it only makes sure one of them stays free for its tag (``Pool`` and the rules
below it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
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

    @property
    def any_connector(self) -> bool:
        """A connector-0 reservation: any connector of an identity, not this one."""
        return identity_of_any(self.connector_id) is not None


def any_connector_of(identity: str) -> str:
    """The connector id that stands for "any connector of ``identity``" (OCPP connector 0).

    Real connector ids number from 1, so this never names a real connector."""
    return f"{identity}:0"


def identity_of_any(connector_id: str) -> str | None:
    """The identity of an ``any_connector_of`` id; None for a real connector id."""
    identity, sep, number = connector_id.rpartition(":")
    return identity if sep and identity and number == "0" else None


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


def reservation_allows(
    reservation: Reservation | None, id_tag: str, parent_id_tag: str | None, now_s: float
) -> bool:
    """Whether ``id_tag`` may start a session on a connector holding ``reservation``."""
    if reservation is None or not reservation.live(now_s):
        return True
    return matches(reservation, id_tag, parent_id_tag)


def matches(reservation: Reservation, id_tag: str, parent_id_tag: str | None) -> bool:
    """Whether ``id_tag`` (of group ``parent_id_tag``) is the one ``reservation`` is for."""
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


# --- connector 0: any connector of one identity ---------------------------------------------
@dataclass(frozen=True, slots=True)
class Pool:
    """One identity's connectors as its connector-0 reservations see them.

    ``conditions``: every connector of the identity; FREE means available, no session and not
    held by a specific-connector reservation. ``reservations``: its connector-0 reservations."""

    conditions: Mapping[str, Condition]
    reservations: Sequence[Reservation] = ()

    def free(self, but: str | None = None) -> list[str]:
        """The free connectors (without ``but``), in order."""
        return sorted(c for c, k in self.conditions.items() if k is Condition.FREE and c != but)

    def live(self, now_s: float, but_id: int | None = None) -> list[Reservation]:
        """Live connector-0 reservations (without the one of id ``but_id``), by id."""
        found = (r for r in self.reservations if r.live(now_s) and r.reservation_id != but_id)
        return sorted(found, key=lambda r: r.reservation_id)


@dataclass(frozen=True, slots=True)
class AnyStart:
    allowed: bool
    uses: Reservation | None = None
    """The connector-0 reservation the start consumes (its id goes into StartTransaction)."""


def decide_reserve_any(pool: Pool, request: Reservation, now_s: float) -> ReserveDecision:
    """Whether a connector-0 ``request`` fits: the free connectors must outnumber the other live
    connector-0 reservations (one with the request's id is replaced, so it does not count)."""
    if not request.live(now_s):
        return ReserveDecision(ReserveAnswer.REJECTED, "expiry date already passed")
    if not pool.conditions:
        return ReserveDecision(ReserveAnswer.REJECTED, "no connectors")
    others = pool.live(now_s, but_id=request.reservation_id)
    if len(pool.free()) > len(others):
        same_id = next((r for r in pool.reservations if r.reservation_id == request.reservation_id),
                       None)  # fmt: skip
        return ReserveDecision(ReserveAnswer.ACCEPTED, "a connector kept free", same_id)
    kinds = set(pool.conditions.values())
    if kinds == {Condition.FAULTED}:
        return ReserveDecision(ReserveAnswer.FAULTED, "every connector faulted")
    if kinds <= {Condition.FAULTED, Condition.UNAVAILABLE}:
        return ReserveDecision(ReserveAnswer.UNAVAILABLE, "no connector available")
    return ReserveDecision(ReserveAnswer.OCCUPIED, f"{len(others)} already wait for connectors")


def leaves_enough(pool: Pool, connector_id: str, now_s: float) -> bool:
    """Whether taking ``connector_id`` (a start, a specific reservation) still leaves a free
    connector for every live connector-0 reservation."""
    return len(pool.free(but=connector_id)) >= len(pool.live(now_s))


def decide_start_any(
    pool: Pool, connector_id: str, id_tag: str, parent_id_tag: str | None, now_s: float
) -> AnyStart:
    """A start on ``connector_id`` of the pool's identity: a tag with a connector-0 reservation
    uses it (the oldest-expiring first); any other tag may start only if enough stay free."""
    mine = [r for r in pool.live(now_s) if matches(r, id_tag, parent_id_tag)]
    if mine:
        return AnyStart(True, min(mine, key=lambda r: (r.expiry_at_s, r.reservation_id)))
    return AnyStart(leaves_enough(pool, connector_id, now_s))


def shown_reserved(pool: Pool, now_s: float) -> dict[str, Reservation]:
    """Free connectors shown Reserved, each with the connector-0 reservation that needs it:
    all of them once the live connector-0 reservations need every free connector, else none."""
    live = pool.live(now_s)
    free = pool.free()
    if not live or len(free) > len(live):
        return {}
    return dict(zip(free, live, strict=False))
