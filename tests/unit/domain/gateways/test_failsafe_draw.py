"""A child whose chargers draw more on their own fail-safe currents than its safe budget: a
child that crashes leaves them there, so its parent counts it at that draw, per grid phase,
while it reports, once it is lost and after the parent restarts; a child that does not say (of
a version before) is counted as configured."""

from __future__ import annotations

from edge_controller.domain.balancing import ConnectorDemand, DemandState, GridReading, Site
from edge_controller.domain.gateways import (
    ChildFeeder,
    ChildReport,
    Fallbacks,
    ParentInputs,
    ParentSetup,
    ParentState,
    decide_budgets,
    demand_of,
    encode_demand,
    fallbacks,
    gateway_site,
    parse_demand,
    remembering,
)
from edge_controller.domain.model import Phases3

WALL_S = 1_764_800_000.0
GRID_A = 100.0
BUILDING_A = 4.0
CHILDREN = (
    ChildFeeder("hall-a", 80.0, None, 16.0, 30.0),
    ChildFeeder("hall-b", 80.0, None, 16.0, 30.0),
)
SETUP = ParentSetup(gateway_site(Site(grid_limit_a=GRID_A), CHILDREN), CHILDREN)
# hall-a's four chargers on 10 A each, one of them single-phase on L2.
FAILSAFE_A: Phases3 = (30.0, 40.0, 30.0)


def _report(child_id: str, at_s: float, failsafe_a: Phases3 | None) -> ChildReport:
    evs = [
        ConnectorDemand(f"c{n}", DemandState.CHARGING, min_current_a=6.0, max_current_a=32.0)
        for n in range(4)
    ]
    demand = demand_of(
        child_id, evs, (None, (16.0,) * 3), WALL_S + at_s, safe=(16.0, 16.0), failsafe_a=failsafe_a
    )
    return ChildReport(parse_demand(encode_demand(demand), child_id), at_s)


def _run(
    failsafe_a: Phases3 | None, state: ParentState | None = None, reporting_s: float = 10.0
) -> tuple[list[tuple[float, dict[str, Phases3], dict[str, Phases3]]], ParentState]:
    """Both children report for ``reporting_s``, then both are lost until 70 s: per decision,
    what each child is counted at and its latest budget."""
    state = state or ParentState("run-1", started_s=0.0)
    reports: dict[str, ChildReport] = {}
    budgets: dict[str, Phases3] = {}
    seen = []
    for tick in range(70):
        now_s = float(tick)
        if now_s < reporting_s:
            reports["hall-a"] = _report("hall-a", now_s, failsafe_a)
            reports["hall-b"] = _report("hall-b", now_s, (12.0, 12.0, 12.0))
        grids = [GridReading((BUILDING_A,) * 3, now_s)]
        decision = decide_budgets(SETUP, state, ParentInputs(reports, grids, now_s, WALL_S + now_s))
        state = decision.state
        budgets |= {m.child_id: m.current_a for m in decision.publish}
        seen.append((now_s, dict(decision.counted_a), dict(budgets)))
    return seen, state


def test_a_child_is_counted_at_its_chargers_failsafe_draw_while_reporting_and_once_lost() -> None:
    """hall-a's chargers draw 30/40/30 A on their fail-safe currents, its safe budget is 16 A:
    it is counted at that draw per phase throughout, and hall-b's budgets leave room for it
    (the grid 100 A, 4 A of building); once both are lost, hall-a stays counted at it (it may
    have crashed: its chargers stay there), not at its 16 A."""
    seen, _ = _run(FAILSAFE_A)
    for now_s, counted, budgets in seen:
        for p in range(3):
            assert counted["hall-a"][p] >= FAILSAFE_A[p], now_s
            assert counted["hall-a"][p] + counted["hall-b"][p] + BUILDING_A <= GRID_A, now_s
            assert budgets["hall-b"][p] + FAILSAFE_A[p] + BUILDING_A <= GRID_A, now_s
    assert seen[-1][1] == {"hall-a": FAILSAFE_A, "hall-b": (16.0, 16.0, 16.0)}


def test_a_child_that_does_not_say_or_draws_less_on_failsafe_is_counted_as_configured() -> None:
    for failsafe_a in [None, (12.0, 12.0, 12.0)]:
        seen, _ = _run(failsafe_a)
        assert seen[-1][1]["hall-a"] == (16.0, 16.0, 16.0), failsafe_a


def test_a_restarted_parent_counts_a_child_at_the_failsafe_draw_it_said_before() -> None:
    """The parent restarts while hall-a is cut off (or crashed): the new run, given what
    hall-a said, counts it at its chargers' fail-safe draw once a budget of the run before no
    longer holds, until hall-a reports again."""
    said = fallbacks(_run(FAILSAFE_A)[1])
    assert said["hall-a"] == Fallbacks(16.0, 16.0, FAILSAFE_A)
    restarted = remembering(ParentState("run-2", started_s=1_000.0), said)
    counted = []
    for tick in range(60):
        now_s = 1_000.0 + tick
        inputs = ParentInputs({}, [GridReading((BUILDING_A,) * 3, now_s)], now_s, WALL_S + now_s)
        decision = decide_budgets(SETUP, restarted, inputs)
        restarted = decision.state
        counted.append(decision.counted_a["hall-a"])
    assert counted[-1] == FAILSAFE_A


def test_a_demand_carries_the_failsafe_draw_only_from_a_child_that_says() -> None:
    with_draw = _report("hall-a", 0.0, FAILSAFE_A).demand
    assert with_draw.failsafe_a == FAILSAFE_A
    without = demand_of("hall-a", [], (None, (16.0,) * 3), WALL_S)
    assert b"failsafe_a" not in encode_demand(without)
    assert parse_demand(encode_demand(without), "hall-a").failsafe_a is None
