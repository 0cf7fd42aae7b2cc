"""The cautious pairing of our own readings with the grid's, and the increases it holds back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_controller.domain.balancing import Allocation, ConnectorAllocation
from edge_controller.domain.balancing.caution import (
    Sample,
    bracketed,
    draw_around,
    hold_unconfirmed_increases,
)

GRID_AT_10 = Sample(10.0, 10.05, (40.0, 40.0, 40.0))


def _reading(started_s: float, amps: float) -> Sample:
    return Sample(started_s, started_s + 0.3, (amps, amps, amps))


def test_our_draw_around_a_grid_reading_is_the_lowest_from_before_to_after() -> None:
    # The EV dipped to 0 A in between (a pause and a resume): the reading in between shows it.
    samples = [_reading(8.0, 16.0), _reading(9.0, 16.0), _reading(9.9, 0.0), _reading(10.5, 16.0)]
    assert draw_around(samples, GRID_AT_10) == (0.0, 0.0, 0.0)
    # A reading begun before the grid reading arrived is no "after": without one, no pairing.
    assert draw_around(samples[:3], GRID_AT_10) is None
    assert draw_around(samples[2:], GRID_AT_10) is None  # and none done before it started


def test_a_reading_in_the_same_instant_as_the_grid_reading_brackets_it_alone() -> None:
    instant = Sample(10.0, 10.0, (5.0, 6.0, 7.0))
    grid = Sample(10.0, 10.0, (40.0, 40.0, 40.0))
    assert draw_around([instant], grid) == (5.0, 6.0, 7.0)


def test_the_newest_grid_reading_every_connector_brackets_is_taken() -> None:
    older, newer = Sample(8.0, 8.05, (30.0,) * 3), GRID_AT_10  # type: ignore[arg-type]
    quick = [_reading(7.0, 10.0), _reading(8.5, 12.0), _reading(9.0, 12.0), _reading(10.5, 14.0)]
    slow = [_reading(7.0, 20.0), _reading(9.0, 18.0)]  # nothing begun after 10.05 yet
    found = bracketed([older, newer], [quick, slow])
    assert found is not None
    grid, draws = found
    assert grid is older and draws == [(10.0, 10.0, 10.0), (18.0, 18.0, 18.0)]
    assert bracketed([newer], [quick, slow]) is None


def _bracketed_by_definition(
    grids: list[Sample], draws: list[list[Sample]]
) -> tuple[Sample, list[tuple[float, float, float]]] | None:
    """Every connector's draw around each grid reading, newest first, the first all have."""
    for grid in reversed(grids):
        found = [draw_around(samples, grid) for samples in draws]
        if all(draw is not None for draw in found):
            return grid, [draw for draw in found if draw is not None]
    return None


_times = st.lists(st.integers(0, 40), max_size=6).map(lambda ts: sorted(t / 4 for t in ts))


@given(_times, st.lists(_times, max_size=5))
def test_the_pairing_stops_at_the_first_unbracketed_connector_with_the_same_answer(
    grid_starts: list[float], connectors: list[list[float]]
) -> None:
    grids = [Sample(t, t + 0.05, (40.0,) * 3) for t in grid_starts]  # type: ignore[arg-type]
    draws = [[_reading(t, t * 2) for t in starts] for starts in connectors]
    assert bracketed(grids, draws) == _bracketed_by_definition(grids, draws)


def _allocation(at_s: float, *entries: ConnectorAllocation) -> Allocation:
    return Allocation(at_s, {e.connector_id: e for e in entries}, (0.0,) * 3, (0.0,) * 3, False)


def test_a_start_held_back_names_what_binds_and_starts_no_pause() -> None:
    previous = _allocation(0.0, ConnectorAllocation("c1:1", 0.0, "paused: grid L1 32 A full"))
    normal = _allocation(5.0, ConnectorAllocation("c1:1", 10.0, "grid L1 32 A", 5.0, 5.0, 10.0))
    cautious = _allocation(5.0, ConnectorAllocation("c1:1", 0.0, "paused: grid L1 32 A full"))
    held = hold_unconfirmed_increases(normal, cautious, previous).connectors["c1:1"]
    assert held.current_a == 0.0
    assert held.reason == "paused: grid L1 32 A full; waiting for a grid reading after the ramp"
    # Not a switch from charging to paused: no minimum pause follows, no ramp limit starts.
    assert (held.changed_at_s, held.increased_at_s) == (float("-inf"), float("-inf"))
