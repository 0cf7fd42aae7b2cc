"""Sessions as the site records them (register readings in the order recorded, with the times
its clock gave) priced through ``recorded_timeline``: one data file per case under
recorded_cases/, named after it. Whatever the clock did, the energy billed is the stop register
minus the start register."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.pricing import TariffSwitch, cost
from edge_controller.domain.pricing.recorded import Reading, recorded_timeline, session_moment
from tests.unit.domain.pricing.case_io import DecimalLoader, check_expect
from tests.unit.domain.pricing.invariants import check_all
from tests.unit.domain.pricing.ocpp_tariff import tariff_from_ocpp

CASES = sorted((Path(__file__).parent / "recorded_cases").glob("*.yaml"))


def _s(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _priced(raw: dict[str, Any]) -> tuple[Any, Any]:
    from zoneinfo import ZoneInfo

    session = raw["recorded"]
    readings = [Reading(_s(at), int(wh)) for at, wh in session["readings"]]
    line = recorded_timeline(_s(session["start"]), _s(session["until"]), readings)
    tariff = tariff_from_ocpp(raw["tariff"], 1, False)
    return line, cost(tariff, line, ZoneInfo(raw["zone"]), _switches(raw, readings))


def _switches(raw: dict[str, Any], readings: list[Reading]) -> list[TariffSwitch]:
    """The session's tariff changes known once ``readings`` were recorded: each taken at
    ``at`` on the site's clock after ``after_readings`` of them, placed on the session's."""
    start_s = _s(raw["recorded"]["start"])
    return [
        TariffSwitch(
            session_moment(start_s, readings[: c["after_readings"]], _s(c["at"])),
            tariff_from_ocpp(c["tariff"], 1, False),
        )
        for c in raw.get("changes", ())
        if c["after_readings"] <= len(readings)
    ]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_recorded_case(path: Path) -> None:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=DecimalLoader)
    line, breakdown = _priced(raw)
    check_all(breakdown, line)
    check_expect(breakdown, raw["expect"])
    assert (line.until - line.started_at).total_seconds() == raw["expect"]["duration_s"]
    readings = raw["recorded"]["readings"]
    assert breakdown.usage.energy_wh == Decimal(readings[-1][1]) - Decimal(readings[0][1])
    periods = raw["expect"].get("periods", ())
    if periods:
        assert len(breakdown.periods) == len(periods)
    for period, wanted in zip(breakdown.periods, periods, strict=False):
        assert (period.start, period.tariff_id) == (
            datetime.fromisoformat(wanted["start"]),
            wanted["tariff_id"],
        )
        assert period.excl_tax.amount == Decimal(wanted["excl_tax"]), period.start


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_recorded_case_running_cost_never_goes_back(path: Path) -> None:
    """The running cost after each reading, in the order recorded, never decreases."""
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=DecimalLoader)
    session = raw["recorded"]
    previous = Decimal(0)
    for count in range(1, len(session["readings"]) + 1):
        part = dict(raw, recorded=dict(session, readings=session["readings"][:count],
                                       until=session["readings"][count - 1][0]))  # fmt: skip
        _, running = _priced(part)
        assert running.total_incl_tax.amount >= previous, count
        previous = running.total_incl_tax.amount
