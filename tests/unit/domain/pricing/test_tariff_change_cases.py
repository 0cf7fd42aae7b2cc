"""A session whose tariff changed while it ran (OCPP 2.1 ChangeTransactionTariff), one data file
per case under tariff_change_cases/, named after it: ``tariff`` is the one it started with,
``changes`` [{at, tariff}] the later ones (OCPP 2.1 TariffType form). The parts add up, each
period names its tariff, the running cost never decreases across a change, and a change to
another currency is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from edge_controller.domain.pricing import (
    CostBreakdown,
    TariffError,
    TariffSwitch,
    cost,
)
from tests.unit.domain.pricing.case_io import (
    DecimalLoader,
    check_expect,
    moment,
    timeline,
)
from tests.unit.domain.pricing.invariants import check_all
from tests.unit.domain.pricing.ocpp_tariff import tariff_from_ocpp

CASES = sorted((Path(__file__).parent / "tariff_change_cases").glob("*.yaml"))
RISE = Path(__file__).parent / "tariff_change_cases" / "energy_price_rises_at_a_reading.yaml"


def _load(path: Path) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=DecimalLoader)
    raw["tariff"] = tariff_from_ocpp(raw["tariff"])
    raw["changes"] = [
        TariffSwitch(moment(c["at"]), tariff_from_ocpp(c["tariff"])) for c in raw["changes"]
    ]
    raw["timeline"] = timeline(raw["session"])
    raw["zone"] = ZoneInfo(raw["zone"])
    return raw


def test_there_are_cases() -> None:
    assert len(CASES) >= 6


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_tariff_change_case(path: Path) -> None:
    case = _load(path)
    found = cost(case["tariff"], case["timeline"], case["zone"], case["changes"])
    check_all(found, case["timeline"])
    expect = case["expect"]
    check_expect(found, {k: v for k, v in expect.items() if k != "periods"})
    if "periods" in expect:
        assert len(found.periods) == len(expect["periods"])
    for period, wanted in zip(found.periods, expect.get("periods", ()), strict=False):
        assert (period.start, period.tariff_id) == (moment(wanted["start"]), wanted["tariff_id"])
        assert period.excl_tax.amount == Decimal(wanted["excl_tax"]), period.start
        if "energy_wh" in wanted:
            assert period.energy_wh == Decimal(wanted["energy_wh"]), period.start
    assert found.tariff_id == case["tariff"].tariff_id  # the session's own, with its version


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_running_cost_never_decreases_across_a_change(path: Path) -> None:
    case = _load(path)
    line = case["timeline"]
    previous: CostBreakdown | None = None
    at: datetime = line.started_at
    while at <= line.until:
        running = cost(case["tariff"], line.prefix(at), case["zone"], case["changes"])
        check_all(running, line.prefix(at))
        if previous is not None:
            assert running.total_excl_tax.amount >= previous.total_excl_tax.amount, at
        previous = running
        at += timedelta(minutes=5)
    final = cost(case["tariff"], line, case["zone"], case["changes"])
    assert previous is not None and previous.total_excl_tax == final.total_excl_tax


def test_without_changes_the_cost_is_the_tariffs_alone() -> None:
    case = _load(RISE)
    alone = cost(case["tariff"], case["timeline"], case["zone"])
    assert alone == cost(case["tariff"], case["timeline"], case["zone"], ())
    assert all(p.tariff_id is None for p in alone.periods)
    assert alone.total_excl_tax.amount == Decimal("8.00")  # 20 kWh at 0.40


def test_a_change_to_another_currency_is_refused() -> None:
    case = _load(RISE)
    other = tariff_from_ocpp(
        {"tariffId": "chf", "currency": "CHF", "energy": {"prices": [{"priceKwh": 0.5}]}}
    )
    switch = TariffSwitch(case["timeline"].started_at + timedelta(hours=1), other)
    with pytest.raises(TariffError, match="currency CHF"):
        cost(case["tariff"], case["timeline"], case["zone"], [switch])


def test_a_change_after_the_priced_time_does_not_count_yet() -> None:
    case = _load(RISE)
    line = case["timeline"]
    early = line.prefix(line.started_at + timedelta(minutes=30))
    assert cost(case["tariff"], early, case["zone"], case["changes"]) == cost(
        case["tariff"], early, case["zone"]
    )
