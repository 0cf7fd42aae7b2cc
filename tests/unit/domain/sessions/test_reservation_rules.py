"""The pure reservation rules (domain.reservations), one scenario per test."""

from __future__ import annotations

from edge_controller.domain.sessions.reservations import (
    Condition,
    Reservation,
    ReserveAnswer,
    condition_of,
    decide_reserve,
    expired,
    find,
    reservation_allows,
    tap_preference,
)
from edge_controller.domain.snapshot import Availability

NOW_S = 1_000_000.0


def reservation(rid: int = 7, cid: str = "cp1:1", tag: str = "AABB", parent: str | None = None,
                expiry_at_s: float = NOW_S + 600) -> Reservation:  # fmt: skip
    return Reservation(rid, cid, tag, expiry_at_s, parent)


def test_a_free_connector_is_reserved() -> None:
    decision = decide_reserve({}, reservation(), Condition.FREE, NOW_S)
    assert decision.answer is ReserveAnswer.ACCEPTED and decision.replaces is None


def test_faulted_unavailable_and_busy_connectors_answer_their_condition() -> None:
    answers = {
        c: decide_reserve({}, reservation(), c, NOW_S).answer
        for c in (Condition.FAULTED, Condition.UNAVAILABLE, Condition.OCCUPIED)
    }
    assert answers == {
        Condition.FAULTED: ReserveAnswer.FAULTED,
        Condition.UNAVAILABLE: ReserveAnswer.UNAVAILABLE,
        Condition.OCCUPIED: ReserveAnswer.OCCUPIED,
    }


def test_an_expiry_in_the_past_is_rejected() -> None:
    late = reservation(expiry_at_s=NOW_S - 1)
    assert decide_reserve({}, late, Condition.FREE, NOW_S).answer is ReserveAnswer.REJECTED


def test_a_connector_reserved_by_another_id_is_occupied() -> None:
    book = {"cp1:1": reservation(rid=1)}
    decision = decide_reserve(book, reservation(rid=2), Condition.FREE, NOW_S)
    assert decision.answer is ReserveAnswer.OCCUPIED


def test_an_expired_reservation_does_not_hold_the_connector() -> None:
    book = {"cp1:1": reservation(rid=1, expiry_at_s=NOW_S)}
    decision = decide_reserve(book, reservation(rid=2), Condition.FREE, NOW_S)
    assert decision.answer is ReserveAnswer.ACCEPTED
    assert expired(book, NOW_S) == [book["cp1:1"]]


def test_the_same_reservation_id_replaces_the_old_one_even_elsewhere() -> None:
    old = reservation(rid=5, cid="cp1:2")
    decision = decide_reserve({"cp1:2": old}, reservation(rid=5), Condition.FREE, NOW_S)
    assert decision.answer is ReserveAnswer.ACCEPTED and decision.replaces == old
    same_place = decide_reserve({"cp1:1": old}, reservation(rid=5, cid="cp1:1"), Condition.FREE,
                                NOW_S)  # fmt: skip
    assert same_place.answer is ReserveAnswer.ACCEPTED


def test_only_the_reserved_tag_or_its_group_may_start() -> None:
    held = reservation(tag="AABB", parent="FLEET")
    assert reservation_allows(held, "aabb", None, NOW_S)
    assert reservation_allows(held, "CCDD", "fleet", NOW_S)
    assert not reservation_allows(held, "CCDD", None, NOW_S)
    assert not reservation_allows(held, "CCDD", "OTHER", NOW_S)
    assert not reservation_allows(reservation(tag="AABB"), "CCDD", "FLEET", NOW_S)


def test_anyone_may_start_without_or_after_a_reservation() -> None:
    assert reservation_allows(None, "CCDD", None, NOW_S)
    assert reservation_allows(reservation(expiry_at_s=NOW_S), "CCDD", None, NOW_S)


def test_condition_from_availability() -> None:
    assert condition_of(Availability.AVAILABLE) is Condition.FREE
    assert condition_of(Availability.RESERVED) is Condition.FREE
    assert condition_of(Availability.PREPARING) is Condition.OCCUPIED
    assert condition_of(Availability.CHARGING) is Condition.OCCUPIED
    assert condition_of(Availability.FAULTED, inoperative=True) is Condition.FAULTED
    assert condition_of(Availability.AVAILABLE, inoperative=True) is Condition.UNAVAILABLE
    assert condition_of(Availability.UNAVAILABLE) is Condition.UNAVAILABLE


def test_find_by_id() -> None:
    book = {"cp1:1": reservation(rid=1), "cp1:2": reservation(rid=2, cid="cp1:2")}
    assert find(book, 2) == book["cp1:2"] and find(book, 3) is None


def test_tap_preference_puts_the_own_reservation_first_and_others_last() -> None:
    mine, other = reservation(tag="AABB"), reservation(tag="CCDD")
    ranks = [tap_preference(r, "aabb") for r in (other, None, mine)]
    assert ranks == [2, 1, 0]
