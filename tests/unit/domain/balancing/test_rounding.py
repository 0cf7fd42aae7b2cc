"""Float rounding at a full limit is not an overload (found by the sequence property test)."""

from __future__ import annotations

from edge_controller.domain.balancing import (
    ConnectorDemand,
    DemandState,
    GridReading,
    Policy,
    Site,
    allocate,
)
from tests.unit.domain.balancing.invariants import check_all


def test_running_ev_at_a_limit_left_one_microamp_short_keeps_charging() -> None:
    # The building takes 1 µA of the 6 A phase: admission lets the 6 A minimum in (within its
    # 1 µA tolerance); the recount lands an ulp beyond -1 µA, which must not pause the EV.
    site = Site(grid_limit_a=6.0)
    demands = [ConnectorDemand("c0:1", DemandState.WAITING, wiring=(0,), max_current_a=6.0)]
    policy = Policy(fallback_current_a=0.0)
    first = allocate(
        site,
        demands,
        grid=GridReading((0.0, 0.0, 0.0), 0.0),
        previous=None,
        now_s=0.0,
        policy=policy,
    )
    second = allocate(
        site,
        demands,
        grid=GridReading((1e-6, 0.0, 0.0), 1.0),
        previous=first,
        now_s=1.0,
        policy=policy,
    )
    assert first.current_a("c0:1") == 6.0
    assert second.current_a("c0:1") == 6.0
    assert second.notes == ()
    check_all(site, demands, second)
