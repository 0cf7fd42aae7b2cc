"""Faults the site sees itself become one open report each: a table, one data file per case.

Each case is a run of views; the open reports carry from view to view as the store would keep
them (``open_keys`` at the start: reports left open by the last run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain import site_faults
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView

CASES = sorted((Path(__file__).parent / "site_faults").glob("*.json"))


def _view(step: dict[str, Any]) -> SiteView:
    connectors = tuple(
        ConnectorView(cid, Availability(state), 0.0, "", fault_text=text, at_s=step["at_s"])
        for cid, state, text in step["connectors"]
    )
    devices = tuple(
        DeviceView(did, available, last_success_s=last) for did, available, last in step["devices"]
    )
    return SiteView("s", None, 32.0, None, None, connectors, devices, at_s=step["at_s"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_site_faults(path: Path) -> None:
    case = json.loads(path.read_text())
    open_keys = set(case["open_keys"])
    silent: dict[str, float] = {}
    for step in case["views"]:
        view = _view(step)
        silent = site_faults.down_since(view, silent)
        faults = site_faults.observe(view, silent, case["unavailable_after_s"])
        todo = site_faults.steps(faults, frozenset(open_keys))
        at = f"at {step['at_s']}"
        assert [f.key for f in todo.raise_] == step["raise"], at
        assert list(todo.resolve) == step["resolve"], at
        raised = {f.key: f for f in todo.raise_}
        for key, connector_id in step.get("filed_under", {}).items():
            assert raised[key].connector_id == connector_id, at
        for key, text in step.get("texts", {}).items():
            assert raised[key].text == text, at
        open_keys = (open_keys | set(raised)) - set(todo.resolve)


def test_a_fault_report_submission_names_its_fault() -> None:
    submission = site_faults.submission_id("connector:wb1:1", 1700000000.4)
    assert submission == "fault:connector:wb1:1@1700000000"
    assert site_faults.fault_key(submission) == "connector:wb1:1"
    assert site_faults.fault_key("c0ffee-form-id") is None
