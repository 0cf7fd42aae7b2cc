"""Whether a shared terminal arms itself, for which connector, or why not: the only EV waiting
at its connectors, a ready terminal and a priced session. One data file per scenario
(``arm_decision/``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_controller.domain.payments import ArmDecision, NotArmed, TerminalState, arm_decision

CASES = sorted((Path(__file__).parent / "arm_decision").glob("*.json"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_arm_decision(path: Path) -> None:
    case = json.loads(path.read_text())
    found = arm_decision(
        case["served"], frozenset(case["waiting"]), TerminalState(case["terminal"]),
        frozenset(case["unpriced"]),
    )  # fmt: skip
    reason = None if case["reason"] is None else NotArmed(case["reason"])
    assert found == ArmDecision(case["connector"], reason, tuple(case["waiting_here"]))


def test_every_reason_has_a_case() -> None:
    reasons = {json.loads(p.read_text())["reason"] for p in CASES}
    assert reasons == {None, *(r.value for r in NotArmed)}
