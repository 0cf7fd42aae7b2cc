"""Which phases an EV is counted on: one data file per case under phase_scenarios/, named after
the case. Each file is a story of readings (time, pilot state, currents on the charger's L1..L3)
and, after each, the phases expected to count (``all``: every wired phase)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.balancing import DemandState
from edge_controller.domain.balancing.ev_phases import (
    NO_EVIDENCE,
    PhaseRule,
    learn_phases,
    phases_in_use,
)

SCENARIOS = sorted((Path(__file__).parent / "phase_scenarios").glob("*.yaml"))


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_phase_scenario(path: Path) -> None:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule = PhaseRule(**raw.get("rule", {}))
    wired = int(raw["wired"])
    evidence = NO_EVIDENCE
    for number, step in enumerate(raw["readings"], start=1):
        currents = step["current_a"]
        reading = None if currents is None else (tuple(currents), float(step["at_s"]))
        evidence = learn_phases(evidence, DemandState(step["state"]), reading, rule)  # type: ignore[arg-type]
        want = None if step["expect"] == "all" else int(step["expect"])
        got = phases_in_use(evidence, wired, rule)
        assert got == want, f"reading {number} at {step['at_s']} s: {got} phases, want {want}"
