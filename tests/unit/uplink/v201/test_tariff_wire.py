"""The OCPP 2.1 TariffType as the site takes it: every tariff of the pricing cases, sent as
JSON (numbers as the connection parses them), becomes the same tariff the cases price with."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.pricing.codec import tariff_from_json
from edge_controller.uplink.v201.tariff_wire import (
    WireTariffError,
    central_cost,
    element_count,
    site_tariff,
)
from tests.unit.domain.pricing.case_io import DecimalLoader
from tests.unit.domain.pricing.ocpp_tariff import tariff_from_ocpp

CASES = Path(__file__).parents[2] / "domain" / "pricing" / "cases"
TARIFFS = sorted(CASES.glob("*.yaml")) + sorted((CASES.parent / "recorded_cases").glob("*.yaml"))


@pytest.mark.parametrize("path", TARIFFS, ids=lambda p: p.stem)
def test_every_case_tariff_is_the_same_tariff_after_the_wire(path: Path) -> None:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=DecimalLoader)
    expected = tariff_from_ocpp(raw["tariff"], 1, False)
    wire = json.loads(json.dumps(raw["tariff"], default=float))  # numbers as floats
    found = tariff_from_json(site_tariff(wire))
    assert replace(found, prices_include_tax=False) == expected
    assert element_count(wire) >= 1


def test_a_price_that_is_not_a_number_names_its_place() -> None:
    wire = {"tariffId": "t", "currency": "EUR", "energy": {"prices": [{"priceKwh": [1]}]}}
    with pytest.raises(WireTariffError, match=r"energy.prices\[0\]"):
        site_tariff(wire)


@pytest.mark.parametrize(
    ("total", "expected"),
    [(12.34, Decimal("12.34")), (0, Decimal(0)), (-1, None), ("x", None), (float("nan"), None)],
)
def test_a_csms_cost_is_taken_as_sent(total: Any, expected: Decimal | None) -> None:
    found = central_cost(total, final=True)
    assert (None if found is None else found.cost) == expected
