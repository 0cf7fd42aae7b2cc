"""Which connector a card at a shared terminal pays for when the driver names none: the only
EV waiting for authorisation at a connector it serves; none or several arm nothing. One data
file per scenario (``terminal_choice/``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_controller.domain.payments import TerminalChoice, terminal_choice

CASES = sorted((Path(__file__).parent / "terminal_choice").glob("*.json"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_terminal_choice(path: Path) -> None:
    case = json.loads(path.read_text())
    found = terminal_choice(case["served"], frozenset(case["waiting"]))
    assert found == TerminalChoice(case["connector"], tuple(case["waiting_here"]))


def test_there_are_cases() -> None:
    assert len(CASES) >= 5
