"""One data file per case under scenarios/, named after it. Every step must also keep the
invariant: the building load plus what each child is counted at within every limit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.balancing import GridReading
from edge_controller.domain.gateways import (
    BudgetMessage,
    ChildDemand,
    ChildReport,
    ParentInputs,
    ParentState,
    decide_budgets,
)
from edge_controller.domain.model import Limit
from tests.unit.domain.gateways.invariants import over_limits
from tests.unit.domain.gateways.scenario_io import demand, load

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))
EPOCH = "run-2"


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 10


def _applied(
    body: dict[str, Any], latest: dict[str, BudgetMessage], cid: str
) -> tuple[str, int] | None:
    applied = body.get("applied")
    if applied == "latest":
        return (EPOCH, latest[cid].version)
    if isinstance(applied, dict):
        return (applied["epoch"], applied["version"])
    return None


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    scenario = load(path)
    state = ParentState(EPOCH, started_s=0.0)
    reports: dict[str, ChildReport] = {}
    latest: dict[str, BudgetMessage] = {}
    grids: list[GridReading] = []
    for number, step in enumerate(scenario.steps, start=1):
        for cid, body in step.reports.items():
            budget_a = body.get("budget_a") or list(
                latest[cid].current_a if cid in latest else [0] * 3
            )
            applied = _applied(body, latest, cid)
            new = demand(cid, {**body, "budget_a": budget_a}, applied)
            before = reports.get(cid)
            if before is not None:
                new = _lowest_since(before, new, step.now_s, scenario.setup.timing.report_stale_s)
            reports[cid] = before.then(new, step.now_s) if before else ChildReport(new, step.now_s)
        for cid in step.silent:
            reports.pop(cid, None)
        if step.grid_a is not None:
            grids.append(GridReading(step.grid_a, step.now_s))
        cap = None if step.cap_a is None else Limit(step.cap_a, "operator site limit")
        inputs = ParentInputs(
            dict(reports), tuple(grids), step.now_s, 1_000_000.0 + step.now_s, grid_cap=cap
        )
        decision = decide_budgets(scenario.setup, state, inputs)
        state = decision.state
        published = {m.child_id: m for m in decision.publish}
        latest.update(published)
        where = (
            f"step {number} (t={step.now_s}): published {published}, counted {decision.counted_a}"
        )
        if not any("counted" in note for note in step.notes):
            assert (
                over_limits(scenario.setup, decision.building_load_a, decision.counted_a) == []
            ), where
        if step.cap_a is not None:  # what the children are handed fits the cap in force
            handed = [decision.building_load_a[p] for p in range(3)]
            for message in latest.values():
                handed = [handed[p] + message.current_a[p] for p in range(3)]
            assert max(handed) <= step.cap_a + 1e-6, (where, handed)
        for cid, amounts in step.published.items():
            assert cid in published, where
            assert list(published[cid].current_a) == pytest.approx(amounts, abs=0.051), where
        for cid in step.not_published:
            assert cid not in published, where
        for cid, amounts in step.counted.items():
            assert list(decision.counted_a[cid]) == pytest.approx(amounts, abs=0.051), where
        for note in step.notes:
            assert any(note in text for text in decision.notes), (where, decision.notes)


def _lowest_since(
    before: ChildReport, new: ChildDemand, now_s: float, within_s: float
) -> ChildDemand:
    """The demand with the lowest and the highest draw since the report before, as a child
    reports them: the lower and the higher of the two draws (nothing else happens between a
    scenario's steps) where they are no more than ``within_s`` apart; over a longer gap none,
    a report that says nothing of it (a scenario does not say what the child drew meanwhile)."""
    span_s = now_s - before.received_s
    if span_s > within_s:
        return new
    a, b, c = (min(before.demand.draw_a[p], new.draw_a[p]) for p in range(3))
    d, e, f = (max(before.demand.draw_a[p], new.draw_a[p]) for p in range(3))
    return replace(new, lowest_draw_a=(a, b, c), lowest_span_s=span_s, highest_draw_a=(d, e, f))
