"""One data file per case under scenarios/, named after the case; every step also has to pass the
invariants (limits incl. building load, 0-or-at-least-min, own caps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.domain.balancing import Allocation, allocate
from tests.unit.domain.balancing.invariants import check_all
from tests.unit.domain.balancing.scenario_io import load

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    scenario = load(path)
    previous: Allocation | None = None
    for number, step in enumerate(scenario.steps, start=1):
        alloc = allocate(
            scenario.site,
            step.demands,
            grid=step.grid,
            previous=previous,
            now_s=step.now_s,
            policy=scenario.policy,
        )
        check_all(scenario.site, step.demands, alloc)
        for cid, expect in step.expect.items():
            got = alloc.connectors[cid]
            where = f"step {number} {cid}: {got.current_a} A ({got.reason})"
            if expect.current_a is not None:
                assert got.current_a == pytest.approx(expect.current_a, abs=0.051), where
            if expect.at_least_a is not None:
                assert got.current_a >= expect.at_least_a, where
            if expect.reason is not None:
                assert expect.reason in got.reason, where
            if expect.reason_is is not None:
                assert got.reason == expect.reason_is, where
        for note in step.notes:
            assert any(note in text for text in alloc.notes), (number, alloc.notes)
        if step.notes_are is not None:
            assert list(alloc.notes) == step.notes_are, (number, alloc.notes)
        previous = alloc
