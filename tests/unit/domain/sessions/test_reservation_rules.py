"""The small helpers of ``domain.sessions.reservations`` that the stories in
``reservation_stories/`` do not name: connector-0 ids, conditions from the status surface, lookups
by id, the expired ones to remove, and a charge point with no connectors."""

from __future__ import annotations

from edge_controller.domain.sessions.reservations import (
    Condition,
    Pool,
    Reservation,
    ReserveAnswer,
    any_connector_of,
    condition_of,
    decide_reserve_any,
    expired,
    find,
    identity_of_any,
)
from edge_controller.domain.snapshot import Availability

NOW_S = 1_000_000.0


def test_the_any_connector_id_names_no_real_connector() -> None:
    assert any_connector_of("cp1") == "cp1:0"
    assert identity_of_any("cp1:0") == "cp1" and identity_of_any("site:a:0") == "site:a"
    assert [identity_of_any(c) for c in ("cp1:1", "cp1:10", ":0", "0")] == [None] * 4
    anywhere = Reservation(1, "cp1:0", "A", NOW_S)
    assert anywhere.any_connector and not Reservation(1, "cp1:1", "A", NOW_S).any_connector


def test_condition_from_availability() -> None:
    assert condition_of(Availability.AVAILABLE) is Condition.FREE
    assert condition_of(Availability.RESERVED) is Condition.FREE
    assert condition_of(Availability.PREPARING) is Condition.OCCUPIED
    assert condition_of(Availability.CHARGING) is Condition.OCCUPIED
    assert condition_of(Availability.FAULTED, inoperative=True) is Condition.FAULTED
    assert condition_of(Availability.AVAILABLE, inoperative=True) is Condition.UNAVAILABLE
    assert condition_of(Availability.UNAVAILABLE) is Condition.UNAVAILABLE


def test_find_by_id_and_the_expired_ones() -> None:
    book = {
        "cp1:1": Reservation(1, "cp1:1", "A", NOW_S),
        "cp1:2": Reservation(2, "cp1:2", "B", NOW_S + 1),
    }
    assert find(book, 2) == book["cp1:2"] and find(book, 3) is None
    assert expired(book, NOW_S) == [book["cp1:1"]]
    assert expired(book, NOW_S - 1) == []


def test_a_charge_point_without_connectors_takes_no_reservation() -> None:
    request = Reservation(1, "cp1:0", "A", NOW_S + 60)
    decision = decide_reserve_any(Pool({}), request, NOW_S)
    assert (decision.answer, decision.reason) == (ReserveAnswer.REJECTED, "no connectors")
