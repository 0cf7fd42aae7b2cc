"""One data file per tariff case under cases/, named after the case: the figures it expects,
the invariants, and the running cost on the way (never decreasing, ending at the final cost)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from edge_controller.domain.pricing import CostBreakdown, cost
from tests.unit.domain.pricing.case_io import Case, check_expect, load
from tests.unit.domain.pricing.invariants import check_all

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def test_there_are_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    case = load(path)
    breakdown = cost(case.tariff, case.timeline, case.zone)
    check_all(breakdown, case.timeline)
    check_expect(breakdown, case.expect)
    assert breakdown.tariff_id == case.tariff.tariff_id
    assert breakdown.tariff_version == case.tariff.version


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_running_cost_of_case(path: Path) -> None:
    case = load(path)
    line = case.timeline
    previous: CostBreakdown | None = None
    for at in _moments(case):
        running = cost(case.tariff, line.prefix(at), case.zone)
        check_all(running, line.prefix(at))
        if previous is not None:
            assert running.total_excl_tax.amount >= previous.total_excl_tax.amount, at
            assert running.total_incl_tax.amount >= previous.total_incl_tax.amount, at
        previous = running
    final = cost(case.tariff, line, case.zone)
    assert previous is not None
    assert previous.total_excl_tax == final.total_excl_tax
    assert previous.periods == final.periods


def _moments(case: Case) -> list[datetime]:
    line = case.timeline
    found = {line.started_at, line.until, *(r.at for r in line.readings)}
    step = line.started_at
    while step < line.until:
        found.add(step)
        step += timedelta(minutes=5)
    return sorted(found)
