"""The smaller parts: site validation, wiring, the failsafe budget check, state mappings."""

from __future__ import annotations

import pytest

from edge_controller.domain.balancing import (
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    Policy,
    Site,
    allocate,
    failsafe_problems,
    wiring_from_rotation,
)
from edge_controller.domain.balancing.tree import level_of
from edge_controller.domain.balancing.views import availability, demand_state
from edge_controller.domain.model import ChargerStatus, CpState
from edge_controller.domain.snapshot import Availability

GRID = GridReading((0.0, 0.0, 0.0), 0.0)


def test_wiring_from_rotation() -> None:
    assert wiring_from_rotation("L2L3L1") == (1, 2, 0)
    assert wiring_from_rotation("L3") == (2,)
    with pytest.raises(ValueError, match="unknown phase rotation"):
        wiring_from_rotation("L1L1L1")


@pytest.mark.parametrize(
    ("feeders", "message"),
    [
        ((Feeder("A", 10, parent="B"),), "unknown parent"),
        ((Feeder("A", 10, parent="B"), Feeder("B", 10, parent="A")), "cycle"),
        ((Feeder("A", 10), Feeder("A", 20)), "defined twice"),
    ],
)
def test_bad_trees_are_refused(feeders: tuple[Feeder, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate(Site(32.0, feeders), [], grid=GRID, previous=None, now_s=0.0)


def test_unknown_feeder_of_a_connector_is_refused() -> None:
    demand = ConnectorDemand("c:1", DemandState.CHARGING, feeder="nope")
    with pytest.raises(ValueError, match="unknown feeder"):
        allocate(Site(32.0), [demand], grid=GRID, previous=None, now_s=0.0)


def test_failsafe_budget_counts_every_wired_phase_per_feeder() -> None:
    site = Site(63.0, (Feeder("A", 16.0),))
    demands = [
        ConnectorDemand("a:1", DemandState.IDLE, feeder="A"),
        ConnectorDemand("b:1", DemandState.IDLE, wiring=(1,), feeder="A"),
        ConnectorDemand("c:1", DemandState.IDLE, wiring=(1,), feeder="A"),
    ]
    problems = failsafe_problems(site, demands, {"a:1": 6.0, "b:1": 6.0, "c:1": 0.0}, Policy())
    # The fallback (6 A) counts even for a charger whose own failsafe is lower.
    assert problems == ["feeder A L2 16 A: all at failsafe draw 18 A"]
    assert failsafe_problems(site, demands[:2], {}, Policy()) == []


def test_water_level_with_different_floors() -> None:
    floors, ceilings = [6.0, 10.0], [32.0, 12.0]
    # 8 A above the floors: the 6 A one rises alone to 10, then both share the rest up to 12.
    assert level_of(floors, ceilings, None, 8.0) == pytest.approx(12.0)
    assert level_of(floors, ceilings, None, 100.0) == float("inf")
    # Weighted (the power limit: a three-phase EV counts thrice): 8 phase-amps above the floors
    # lift the three-phase one (weight 3) from 6 to 8.67 before the other starts to rise.
    assert level_of(floors, ceilings, [3, 1], 8.0) == pytest.approx(6.0 + 8.0 / 3)


def test_state_and_view_mappings() -> None:
    assert demand_state(None) is DemandState.UNAVAILABLE
    assert demand_state(ChargerStatus(CpState.C, True, 16.0)) is DemandState.CHARGING
    assert demand_state(ChargerStatus(CpState.B, True, 0.0, "RCD")) is DemandState.FAULTED
    assert availability(DemandState.WAITING, 0.0, True) is Availability.SUSPENDED_EVSE
    assert availability(DemandState.CHARGING, 10.0, False) is Availability.UNAVAILABLE


@pytest.mark.parametrize("limit_a", [-1.0, float("nan"), float("inf")])
def test_a_limit_that_would_let_every_sum_pass_is_refused(limit_a: float) -> None:
    with pytest.raises(ValueError, match="feeder A limit_a"):
        Feeder("A", limit_a)
    with pytest.raises(ValueError, match="grid_limit_a"):
        Site(grid_limit_a=limit_a)
