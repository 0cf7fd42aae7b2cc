"""Why a child of the several-gateway bench pauses EVs whose minimum would fit its share: the
bench caps the parent's grid limit while the children's EVs still ramp after the last lift.
The grid reading over the new cap already holds their ramp, which the children's reports do
not show yet; over a limit nothing waits, so the parent takes the newest reading less what the
children last reported as building load and lowers them at once, here below their EVs'
minimums. The same readings are what a building rise of that size just then looks like, and
only the lowering keeps the cap in that case: a choice, pinned here, that costs capacity (the
EVs paused stay paused for their minimum pause and while later lowerings settle), not safety.
"""

from __future__ import annotations

from edge_controller.domain.balancing import ConnectorDemand, DemandState, GridReading, Site
from edge_controller.domain.gateways import (
    ChildFeeder,
    ChildReport,
    ParentInputs,
    ParentSetup,
    ParentState,
    decide_budgets,
    demand_of,
    gateway_site,
)
from edge_controller.domain.model import Limit

WALL_S = 1_764_800_000.0
CHILDREN = tuple(ChildFeeder(cid, 400.0, None, 150.0, 3.0) for cid in ("hall-a", "hall-b"))
SETUP = ParentSetup(gateway_site(Site(grid_limit_a=800.0), CHILDREN), CHILDREN)
EVS = 24  # per child, 6 A minimum each: 144 A
BUILDING_A = 16.0
CAP_A = 736.0  # the bench's first step: (736 - 16) / 2 = 360 A a child
CAPPED_S = 10.5


def _report(child_id: str, at_s: float, each_a: float, before: ChildReport | None) -> ChildReport:
    evs = [
        ConnectorDemand(
            f"c{n}",
            DemandState.CHARGING,
            min_current_a=6.0,
            max_current_a=16.0,
            measured_current_a=(each_a,) * 3,
        )
        for n in range(EVS)
    ]
    drawn = (EVS * each_a,) * 3
    demand = demand_of(
        child_id, evs, (None, (384.0,) * 3), WALL_S + at_s, lowest=(drawn, 1.0), highest=drawn
    )
    return before.then(demand, at_s) if before else ChildReport(demand, at_s)


def _capped(reported_each_a: float) -> tuple[dict[str, float], float]:
    """Both children's 24 EVs at 16 A by the grid meter (16 + 768 A) throughout; their reports
    say 16 A each until 10 s, then ``reported_each_a``; the cap comes at 10.5 s: the budgets
    handed then (L1) and the building load the parent took."""
    state, reports, grids = ParentState("run-1", started_s=-100.0), {}, []
    for tick in range(round(CAPPED_S / 0.5) + 1):
        now_s = tick * 0.5
        if tick % 2 == 0:
            each_a = 16.0 if now_s < 10.0 else reported_each_a
            for child in CHILDREN:
                cid = child.child_id
                reports[cid] = _report(cid, now_s, each_a, reports.get(cid))
        grids.append(GridReading((BUILDING_A + 2 * EVS * 16.0,) * 3, now_s))
        cap = Limit(CAP_A, "mqtt site limit") if now_s >= CAPPED_S else None
        inputs = ParentInputs(dict(reports), grids[-16:], now_s, WALL_S + now_s, grid_cap=cap)
        decision = decide_budgets(SETUP, state, inputs)
        state = decision.state
    return {m.child_id: m.current_a[0] for m in decision.publish}, decision.building_load_a[0]


def test_a_cap_while_the_reports_lag_the_evs_ramp_lowers_the_children_below_their_minimums() -> (
    None
):
    # The reports caught up: each child gets its share of the cap, 15 A per EV.
    assert _capped(16.0) == ({"hall-a": 360.0, "hall-b": 360.0}, BUILDING_A)
    # The reports still at the EVs' 3.75 A before their ramp: 784 - 2 x 90 A of building, and
    # the 132 A left under the cap do not hold one child's 24 minimums.
    budgets, building_a = _capped(90.0 / EVS)
    assert building_a == 784.0 - 2 * 90.0
    assert sum(budgets.values()) <= CAP_A - building_a < EVS * 6.0
