"""scripts/code_figures.py keeps measuring: every function its flows name still exists."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).parents[3] / "scripts" / "code_figures.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("code_figures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_flows_name_existing_functions_and_start_in_the_app() -> None:
    script = _script()
    figures = script.figures()  # exits naming a step that no longer exists
    assert set(figures["flows"]) == set(script.FLOWS)
    for steps in script.FLOWS.values():
        assert steps[0].startswith("app.")
    assert figures["top_level_modules"] == len(figures["top_level_module_names"])


def test_a_missing_step_is_reported(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script = _script()
    monkeypatch.setitem(script.FLOWS, "broken", ["app.site:no_such_function"])
    try:
        script.figures()
    except SystemExit as exc:
        assert "no_such_function" in str(exc)
    else:
        raise AssertionError("a missing step went unnoticed")


def test_the_widest_functions_come_first() -> None:
    script = _script()
    top = script.widest(3)
    assert len(top) == 3
    assert top[0].params == script.figures()["largest_parameter_list"]
    assert [f.params for f in top] == sorted((f.params for f in top), reverse=True)
