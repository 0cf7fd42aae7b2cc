"""A child's budget: taken only when newer, held for its lease (never past its issue plus the
lease and the clock tolerance), clamped to the feeder, and the safe budget otherwise."""

from __future__ import annotations

import pytest

from edge_controller.domain.gateways import (
    BudgetMessage,
    effective_budget,
    hold,
    newer,
)

WALL_S = 1_764_800_000.0


def _budget(
    version: int = 5, *, epoch: str = "e1", issued_at_s: float = WALL_S, current_a: float = 40.0
) -> BudgetMessage:
    return BudgetMessage(
        "b", (current_a, current_a, current_a), None, epoch, version, issued_at_s, 10.0
    )


def test_only_a_newer_budget_is_taken() -> None:
    assert newer(_budget(5), None)
    assert newer(_budget(6), _budget(5))
    assert not newer(_budget(5), _budget(5))
    assert not newer(_budget(4), _budget(5))
    # The parent restarted: its versions begin again, its budgets are issued later.
    assert newer(_budget(1, epoch="e2", issued_at_s=WALL_S + 1), _budget(5))
    assert not newer(_budget(9, epoch="e0", issued_at_s=WALL_S - 60), _budget(5))


def test_held_for_the_lease_from_receipt() -> None:
    held = hold(_budget(), received_s=100.0, wall_s=WALL_S + 0.2, tolerance_s=2.0)
    assert held is not None and held.valid_until_s == pytest.approx(110.0)
    assert effective_budget(held, 109.9, 63.0, 16.0).current_a == (40.0, 40.0, 40.0)
    after = effective_budget(held, 110.0, 63.0, 16.0)
    assert after.current_a == (16.0, 16.0, 16.0)
    assert after.applied is None and "expired" in after.source


def test_a_late_retained_budget_holds_only_what_is_left_of_it() -> None:
    # Delivered 9 s after its issue (a reconnection): 10 + 2 - 9 = 3 s are left.
    held = hold(_budget(), received_s=500.0, wall_s=WALL_S + 9.0, tolerance_s=2.0)
    assert held is not None and held.valid_until_s == pytest.approx(503.0)
    assert hold(_budget(), received_s=500.0, wall_s=WALL_S + 12.5, tolerance_s=2.0) is None


def test_a_child_clock_ahead_within_tolerance_still_takes_budgets() -> None:
    held = hold(_budget(), received_s=0.0, wall_s=WALL_S + 1.9, tolerance_s=2.0)
    assert held is not None and held.valid_until_s == pytest.approx(10.0)


def test_budget_above_the_feeder_is_clamped() -> None:
    held = hold(_budget(current_a=80.0), received_s=0.0, wall_s=WALL_S, tolerance_s=2.0)
    budget = effective_budget(held, 1.0, 63.0, 16.0)
    assert budget.current_a == (63.0, 63.0, 63.0)
    assert budget.applied == ("e1", 5)


def test_no_budget_means_the_safe_budget_never_above_the_feeder() -> None:
    assert effective_budget(None, 0.0, 63.0, 16.0).current_a == (16.0, 16.0, 16.0)
    assert effective_budget(None, 0.0, 10.0, 16.0).current_a == (10.0, 10.0, 10.0)


def test_a_late_budget_lowers_but_never_raises() -> None:
    # Less left than a renewal (a third of the 10 s lease): nothing fresher may come in time.
    late = hold(_budget(), received_s=500.0, wall_s=WALL_S + 9.0, tolerance_s=0.5, running_a=None)
    assert late is not None and late.late and late.valid_until_s == pytest.approx(501.5)
    assert effective_budget(late, 500.0, 63.0, 16.0).current_a == (16.0, 16.0, 16.0)
    running = (30.0, 50.0, 50.0)
    late = hold(
        _budget(), received_s=500.0, wall_s=WALL_S + 9.0, tolerance_s=0.5, running_a=running
    )
    assert effective_budget(late, 500.0, 63.0, 16.0).current_a == (30.0, 40.0, 40.0)
    on_time = hold(_budget(), received_s=500.0, wall_s=WALL_S + 7.0, tolerance_s=0.5)
    assert on_time is not None and not on_time.late
    assert effective_budget(on_time, 500.0, 63.0, 16.0).current_a == (40.0, 40.0, 40.0)
