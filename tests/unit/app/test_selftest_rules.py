"""The selftest's pure rules: which grid phases an EV should load, which fell, and when the
clock counts as synchronised."""

from __future__ import annotations

import pytest

from edge_controller.app.selftest import check_clock, expected_grid_phases, fallen_phases


@pytest.mark.parametrize(
    ("rotation", "charger_phases", "grid_phases"),
    [
        ("L1L2L3", (0,), {0}),
        ("L2L3L1", (0,), {1}),
        ("L3L1L2", (0, 1), {2, 0}),
        ("L3", (0,), {2}),  # a single-phase charger on grid L3
        ("L2", (0, 1, 2), {1}),  # it has one phase whatever the EV could take
        ("L2L3L1", (0, 1, 2), {0, 1, 2}),
    ],
)
def test_expected_grid_phases(
    rotation: str, charger_phases: tuple[int, ...], grid_phases: set[int]
) -> None:
    assert expected_grid_phases(rotation, charger_phases) == grid_phases


@pytest.mark.parametrize(
    ("before", "after", "fell"),
    [
        ((20.0, 30.0, 20.0), (20.0, 14.0, 20.5), {1}),
        ((20.0, 30.0, 20.0), (19.5, 29.0, 19.0), set()),  # noise only: below 2 A
        ((26.0, 26.0, 10.0), (10.0, 10.0, 10.0), {0, 1}),
        ((26.0, 12.0, 10.0), (10.0, 10.0, 10.0), {0}),  # 2 A is less than half of 16 A
    ],
)
def test_fallen_phases(
    before: tuple[float, float, float], after: tuple[float, float, float], fell: set[int]
) -> None:
    assert fallen_phases(before, after) == fell


def test_the_clock_counts_as_synchronised_by_the_kernel_or_the_csms() -> None:
    assert check_clock(None, lambda: True).status == "pass"
    assert check_clock(30.0, lambda: False).status == "pass"
    assert check_clock(-61.0, lambda: False).status == "fail"
    assert check_clock(None, lambda: False).section == "Clock not synchronised"
