"""Connector-0 reservation rules (domain.reservations ``Pool``): one scenario per test."""

from __future__ import annotations

from edge_controller.domain.sessions.reservations import (
    Condition,
    Pool,
    Reservation,
    ReserveAnswer,
    any_connector_of,
    decide_reserve_any,
    decide_start_any,
    identity_of_any,
    leaves_enough,
    shown_reserved,
)

NOW_S = 1_000_000.0
FREE, BUSY = Condition.FREE, Condition.OCCUPIED


def any_res(rid: int, tag: str = "AABB", parent: str | None = None,
            expiry_at_s: float = NOW_S + 600) -> Reservation:  # fmt: skip
    return Reservation(rid, "cp1:0", tag, expiry_at_s, parent)


def pool(*conditions: Condition, reservations: tuple[Reservation, ...] = ()) -> Pool:
    return Pool({f"cp1:{n}": c for n, c in enumerate(conditions, start=1)}, reservations)


def test_the_any_connector_id_names_no_real_connector() -> None:
    assert any_connector_of("cp1") == "cp1:0"
    assert identity_of_any("cp1:0") == "cp1" and identity_of_any("site:a:0") == "site:a"
    assert [identity_of_any(c) for c in ("cp1:1", "cp1:10", ":0", "0")] == [None] * 4
    assert any_res(1).any_connector and not Reservation(1, "cp1:1", "A", NOW_S).any_connector


def test_accepted_while_free_connectors_outnumber_the_reservations() -> None:
    first = decide_reserve_any(pool(FREE, FREE), any_res(1), NOW_S)
    second = decide_reserve_any(pool(FREE, FREE, reservations=(any_res(1),)), any_res(2), NOW_S)
    third = decide_reserve_any(
        pool(FREE, FREE, reservations=(any_res(1), any_res(2))), any_res(3), NOW_S
    )
    assert (first.answer, second.answer) == (ReserveAnswer.ACCEPTED, ReserveAnswer.ACCEPTED)
    assert third.answer is ReserveAnswer.OCCUPIED


def test_a_busy_connector_does_not_count_as_free() -> None:
    decision = decide_reserve_any(pool(FREE, BUSY, reservations=(any_res(1),)), any_res(2), NOW_S)
    assert decision.answer is ReserveAnswer.OCCUPIED


def test_the_same_id_replaces_and_does_not_count_against_itself() -> None:
    old = any_res(1, tag="OLD")
    decision = decide_reserve_any(pool(FREE, BUSY, reservations=(old,)), any_res(1), NOW_S)
    assert decision.answer is ReserveAnswer.ACCEPTED and decision.replaces == old


def test_expired_reservations_do_not_count() -> None:
    stale = any_res(1, expiry_at_s=NOW_S)
    decision = decide_reserve_any(pool(FREE, BUSY, reservations=(stale,)), any_res(2), NOW_S)
    assert decision.answer is ReserveAnswer.ACCEPTED


def test_refusals_name_the_connectors_condition() -> None:
    faulted = pool(Condition.FAULTED, Condition.FAULTED)
    off = pool(Condition.UNAVAILABLE, Condition.FAULTED)
    answers = [
        decide_reserve_any(faulted, any_res(1), NOW_S).answer,
        decide_reserve_any(off, any_res(1), NOW_S).answer,
        decide_reserve_any(pool(BUSY, Condition.FAULTED), any_res(1), NOW_S).answer,
        decide_reserve_any(pool(FREE), any_res(1, expiry_at_s=NOW_S - 1), NOW_S).answer,
        decide_reserve_any(pool(), any_res(1), NOW_S).answer,
    ]
    assert answers == [
        ReserveAnswer.FAULTED,
        ReserveAnswer.UNAVAILABLE,
        ReserveAnswer.OCCUPIED,
        ReserveAnswer.REJECTED,
        ReserveAnswer.REJECTED,
    ]


def test_another_tag_may_start_only_while_enough_stay_free() -> None:
    one_waiting = pool(FREE, FREE, reservations=(any_res(1),))
    assert decide_start_any(one_waiting, "cp1:1", "CCDD", None, NOW_S).allowed
    last_free = pool(BUSY, FREE, reservations=(any_res(1),))
    verdict = decide_start_any(last_free, "cp1:2", "CCDD", None, NOW_S)
    assert not verdict.allowed and verdict.uses is None
    # Plugged in (no longer free itself): the others must still cover every reservation.
    plugged = pool(FREE, BUSY, reservations=(any_res(1),))
    assert decide_start_any(plugged, "cp1:2", "CCDD", None, NOW_S).allowed
    assert not decide_start_any(plugged, "cp1:1", "CCDD", None, NOW_S).allowed


def test_the_reserved_tag_or_its_group_uses_its_reservation() -> None:
    soon, later = any_res(1, expiry_at_s=NOW_S + 60), any_res(2, expiry_at_s=NOW_S + 600)
    full = pool(BUSY, FREE, reservations=(later, soon))
    mine = decide_start_any(full, "cp1:2", "aabb", None, NOW_S)
    assert mine.allowed and mine.uses == soon
    grouped = pool(BUSY, FREE, reservations=(any_res(3, tag="X", parent="FLEET"),))
    by_group = decide_start_any(grouped, "cp1:2", "CCDD", "fleet", NOW_S)
    assert by_group.allowed and by_group.uses is not None and by_group.uses.reservation_id == 3


def test_a_specific_reservation_must_leave_enough_free() -> None:
    assert leaves_enough(pool(FREE, FREE, reservations=(any_res(1),)), "cp1:1", NOW_S)
    assert not leaves_enough(pool(FREE, BUSY, reservations=(any_res(1),)), "cp1:1", NOW_S)
    assert leaves_enough(pool(FREE, BUSY), "cp1:1", NOW_S)


def test_free_connectors_show_reserved_only_when_all_are_needed() -> None:
    assert shown_reserved(pool(FREE, FREE, reservations=(any_res(1),)), NOW_S) == {}
    both = shown_reserved(pool(FREE, FREE, reservations=(any_res(2), any_res(1))), NOW_S)
    assert {c: r.reservation_id for c, r in both.items()} == {"cp1:1": 1, "cp1:2": 2}
    short = shown_reserved(pool(BUSY, FREE, reservations=(any_res(1), any_res(2))), NOW_S)
    assert list(short) == ["cp1:2"]
    assert shown_reserved(pool(FREE, reservations=(any_res(1, expiry_at_s=NOW_S),)), NOW_S) == {}
