"""Configs that pass every range check alone but cannot work, or are hostile: one data file per
scenario (``configs/<scenario>.yaml``), its first comment lines say what must be reported.

``# refused: <text>``: loading fails and some problem reads ``<text>`` (path, line and reason);
``# warning: <text>``: it loads, with that warning; ``# accepted:`` it loads without warnings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.config.load import load_config
from edge_controller.config.yaml_reader import ConfigError
from tests.unit.conftest import PROFILES

SCENARIOS = sorted((Path(__file__).parent / "configs").glob("*.yaml"))


def expectations(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"refused": [], "warning": [], "accepted": []}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("# "):
            break
        kind, _, text = line[2:].partition(": ")
        if kind in found:
            found[kind].append(text)
    return found


@pytest.mark.timeout(20)  # before reading was bounded, the alias bomb never finished
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path) -> None:
    expected = expectations(path)
    assert any(expected.values()), f"{path.name} says nothing about what to expect"
    if expected["refused"]:
        with pytest.raises(ConfigError) as info:
            load_config(path, PROFILES)
        problems = [str(issue) for issue in info.value.issues]
        for text in expected["refused"]:
            assert any(text in problem for problem in problems), (text, problems)
        return
    loaded = load_config(path, PROFILES)
    warnings = [str(issue) for issue in loaded.warnings]
    for text in expected["warning"]:
        assert any(text in warning for warning in warnings), (text, warnings)
    if expected["accepted"]:
        assert warnings == []
