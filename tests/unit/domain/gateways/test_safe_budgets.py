"""A child whose own safe budget is above the one its parent has configured for it: the parent
counts it at the higher, in its allocation and once it has lost the child, and tells it so in
its budgets; a child that does not say (of a version before) is counted as configured."""

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
    fallbacks,
    gateway_site,
    remembering,
)

WALL_S = 1_764_800_000.0
CHILDREN = (
    ChildFeeder("hall-a", 80.0, None, 32.0, 30.0),
    ChildFeeder("hall-b", 80.0, None, 16.0, 30.0),
)
SETUP = ParentSetup(gateway_site(Site(grid_limit_a=100.0), CHILDREN), CHILDREN)


def _report(child_id: str, at_s: float, safe: tuple[float, float] | None) -> ChildReport:
    evs = [
        ConnectorDemand(f"c{n}", DemandState.CHARGING, min_current_a=6.0, max_current_a=32.0)
        for n in range(3)
    ]
    demand = demand_of(child_id, evs, (None, (16.0,) * 3), WALL_S + at_s, safe=safe)
    return ChildReport(demand, at_s)


Seen = list[tuple[float, dict[str, float], float | None]]


def _run(own_a: float | None) -> Seen:
    return _runs(own_a)[0]


def _runs(own_a: float | None, state: ParentState | None = None) -> tuple[Seen, ParentState]:
    """Both children report for 10 s, then both are lost (the broker gone) for 60 s: per
    decision, when, what each child is counted at (L1), and the safe budget hall-a's latest
    budget says. hall-a says its own safe budget (``own_a``; None: a child that does not say)
    and falls back to it until it hears the parent's."""
    state = state or ParentState("run-1", started_s=0.0)
    reports: dict[str, ChildReport] = {}
    seen: list[tuple[float, dict[str, float], float | None]] = []
    said: float | None = None
    for tick in range(70):
        now_s = float(tick)
        if now_s < 10.0:
            fallback_a = own_a if said is None or own_a is None else min(own_a, said)
            safe = None if own_a is None or fallback_a is None else (own_a, fallback_a)
            reports["hall-a"] = _report("hall-a", now_s, safe)
            reports["hall-b"] = _report("hall-b", now_s, (16.0, 16.0))
        grids = [GridReading((4.0, 4.0, 4.0), now_s)]
        inputs = ParentInputs(reports, grids, now_s, WALL_S + now_s)
        decision = decide_budgets(SETUP, state, inputs)
        state = decision.state
        for message in decision.publish:
            if message.child_id == "hall-a":
                said = message.safe_budget_a
        seen.append((now_s, {c: a[0] for c, a in decision.counted_a.items()}, said))
    return seen, state


def test_a_child_with_a_higher_own_safe_budget_is_counted_at_it_throughout() -> None:
    """hall-a's own safe budget is 80 A, the parent has 32 A for it: every budget tells it
    32 A, and it is counted at 80 A from its first report, while it reports and once it is
    lost (it falls back to 32 A, having heard them, but to 80 A if it restarts meanwhile);
    hall-b's budgets leave room for it (the grid is 100 A, 4 A of building)."""
    seen = _run(80.0)
    for now_s, counted, said in seen:
        assert counted["hall-a"] >= 80.0, now_s
        assert counted["hall-a"] + counted["hall-b"] + 4.0 <= 100.0, now_s
        assert said == 32.0, now_s
    assert seen[-1][1] == {"hall-a": 80.0, "hall-b": 16.0}  # at the safe budgets, once lost


def test_a_child_with_a_lower_own_safe_budget_or_not_saying_is_counted_as_configured() -> None:
    for own_a in [20.0, None]:
        seen = _run(own_a)
        assert seen[-1][1] == {"hall-a": 32.0, "hall-b": 16.0}, own_a
        assert all(said == 32.0 for _, _, said in seen), own_a


def test_a_child_whose_own_safe_budget_is_above_its_feeder_gets_no_budget_above_the_feeder() -> (
    None
):
    """hall-a hangs on a 40 A feeder at the parent, which counts it at 16 A once lost; it says
    it falls back to 60 A. Its budgets stay within 40 A (the feeder's limit was raised to 60 A
    before, and 60 A handed out), while it is counted at 60 A at the grid."""
    children = (ChildFeeder("hall-a", 40.0, None, 16.0, 30.0),)
    setup = ParentSetup(gateway_site(Site(grid_limit_a=200.0), children), children)
    evs = [
        ConnectorDemand(f"c{n}", DemandState.CHARGING, min_current_a=6.0, max_current_a=32.0)
        for n in range(4)
    ]
    state = ParentState("run-1", started_s=0.0)
    issued: list[float] = []
    for tick in range(40):
        now_s = float(tick)
        demand = demand_of("hall-a", evs, (None, (16.0,) * 3), WALL_S + now_s, safe=(60.0, 60.0))
        inputs = ParentInputs(
            {"hall-a": ChildReport(demand, now_s)},
            [GridReading((4.0, 4.0, 4.0), now_s)],
            now_s,
            WALL_S + now_s,
        )
        decision = decide_budgets(setup, state, inputs)
        state = decision.state
        issued += [max(m.current_a) for m in decision.publish]
        assert decision.counted_a["hall-a"] == (60.0, 60.0, 60.0), now_s
    assert issued and max(issued) == 40.0  # four EVs want 128 A: the feeder is what binds


def test_a_child_that_has_not_heard_the_parent_yet_is_handed_no_more_than_configured() -> None:
    """hall-a still falls back to its own 80 A (it has not had a budget yet) and its one EV
    wants 10 A: its budget keeps to the 32 A configured for it (handed 80 A as the least it
    keeps, it would run on them for the lease after hearing the lower safe budget)."""
    ev = ConnectorDemand("c1", DemandState.CHARGING, min_current_a=6.0, max_current_a=10.0)
    demand = demand_of("hall-a", [ev], (None, (80.0,) * 3), WALL_S, safe=(80.0, 80.0))
    inputs = ParentInputs(
        {"hall-a": ChildReport(demand, 0.0)}, [GridReading((4.0,) * 3, 0.0)], 0.0, WALL_S
    )
    decision = decide_budgets(SETUP, ParentState("run-1", started_s=-100.0), inputs)
    (budget,) = (m for m in decision.publish if m.child_id == "hall-a")
    assert budget.current_a == (32.0, 32.0, 32.0)
    assert budget.safe_budget_a == 32.0
    assert decision.counted_a["hall-a"] == (80.0, 80.0, 80.0)


def _silent(setup: ParentSetup, state: ParentState, until_s: float) -> list[dict[str, float]]:
    """What each child is counted at (L1), per decision of a run that hears no child."""
    counted = []
    for tick in range(int(until_s)):
        now_s = state.started_s + tick
        inputs = ParentInputs({}, [GridReading((4.0,) * 3, now_s)], now_s, WALL_S + now_s)
        decision = decide_budgets(setup, state, inputs)
        state = decision.state
        counted.append({c: a[0] for c, a in decision.counted_a.items()})
    return counted


def test_a_restarted_parent_counts_a_child_as_it_said_before_until_it_reports() -> None:
    """hall-a said it falls back to its own 80 A (32 A configured), then was lost; the parent
    restarts while it is cut off (hall-a may restart too and fall back to its 80 A). The new
    run, given what hall-a said, counts it at 80 A past the time a budget of the run before
    could hold, until hall-a reports again; forgetting it, the run counted it at 32 A from then
    (41 s in) and left hall-b room for 48 A that hall-a's 80 A did not leave."""
    said = fallbacks(_runs(80.0)[1])
    assert said == {"hall-a": Fallbacks(80.0, 32.0), "hall-b": Fallbacks(16.0, 16.0)}
    restarted = ParentState("run-2", started_s=1_000.0)
    counted = _silent(SETUP, remembering(restarted, said), 60.0)
    assert all(c == {"hall-a": 80.0, "hall-b": 80.0} for c in counted[:41])  # feeders
    assert all(c == {"hall-a": 80.0, "hall-b": 16.0} for c in counted[41:])
    forgot = _silent(SETUP, restarted, 60.0)
    assert forgot[-1] == {"hall-a": 32.0, "hall-b": 16.0}
    # Once it reports again, what it says now counts (its own fixed to 20 A: the 32 A
    # configured); the next restart starts from that.
    seen, state = _runs(20.0, remembering(restarted, said))
    assert seen[-1][1] == {"hall-a": 32.0, "hall-b": 16.0}
    assert fallbacks(state)["hall-a"] == Fallbacks(20.0, 20.0)


def test_a_restarted_parent_counts_a_child_above_its_feeder_at_its_own_at_once() -> None:
    """Just restarted, the parent counts a child it has not heard at its feeder's limit (a
    budget of the run before is within it); one that said it falls back to more (60 A on a
    40 A feeder) is counted at that from the start."""
    children = (ChildFeeder("hall-a", 40.0, None, 16.0, 30.0),)
    setup = ParentSetup(gateway_site(Site(grid_limit_a=200.0), children), children)
    state = remembering(ParentState("run-2", started_s=0.0), {"hall-a": Fallbacks(60.0, 16.0)})
    assert all(c == {"hall-a": 60.0} for c in _silent(setup, state, 60.0))
    assert _silent(setup, ParentState("run-2", started_s=0.0), 5.0)[0] == {"hall-a": 40.0}
