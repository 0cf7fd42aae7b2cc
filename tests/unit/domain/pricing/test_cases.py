"""One data file per tariff case under cases/, named after the case: the figures it expects,
the invariants, and the running cost on the way (never decreasing, ending at the final cost)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.pricing import Component, CostBreakdown, Period, cost
from tests.unit.domain.pricing.case_io import Case, load, moment
from tests.unit.domain.pricing.invariants import check_all

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def test_there_are_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    case = load(path)
    breakdown = cost(case.tariff, case.timeline, case.zone)
    check_all(breakdown, case.timeline)
    _check_expect(breakdown, case.expect)
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


def _check_expect(breakdown: CostBreakdown, expect: dict[str, Any]) -> None:
    assert breakdown.type_of_cost.value == expect.get("type_of_cost", "normal")
    assert breakdown.total_excl_tax.amount == Decimal(expect["total_excl_tax"])
    assert breakdown.total_incl_tax.amount == Decimal(expect["total_incl_tax"])
    assert breakdown.stop_register_unknown == expect.get("stop_register_unknown", False)
    for name, (excl, incl) in expect.get("components", {}).items():
        amount = breakdown.component(Component(name))
        assert (amount.excl_tax.amount, amount.incl_tax.amount) == (Decimal(excl), Decimal(incl)), (
            name
        )
    if "taxes" in expect:
        got = {t.name: t.amount.amount for t in breakdown.taxes}
        assert got == {name: Decimal(value) for name, value in expect["taxes"].items()}
    for key, value in expect.get("usage", {}).items():
        assert getattr(breakdown.usage, key) == Decimal(str(value)), key
    if "periods" in expect:
        shown = [_shown(p) for p in breakdown.periods]
        assert len(breakdown.periods) == len(expect["periods"]), shown
        for period, wanted in zip(breakdown.periods, expect["periods"], strict=True):
            _check_period(period, wanted)


def _check_period(period: Period, wanted: dict[str, Any]) -> None:
    where = _shown(period)
    assert period.start == moment(wanted["start"]), where
    if "activity" in wanted:
        assert period.activity.value == wanted["activity"], where
    for key in ("excl_tax", "incl_tax"):
        if key in wanted:
            assert getattr(period, key).amount == Decimal(wanted[key]), where
    for key in ("energy_wh", "max_power_w", "max_current_sum_a"):
        if key in wanted:
            assert getattr(period, key) == Decimal(str(wanted[key])), where


def _shown(period: Period) -> str:
    start, activity = period.start.isoformat(), period.activity.value
    return f"{start} {activity} {period.excl_tax} {period.energy_wh} Wh"
