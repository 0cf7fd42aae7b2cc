"""The model covers OCPP 2.1's tariff and cost types field by field, checked against the JSON
schemas the ``ocpp`` package ships, through the mapping tables the test cases load with."""

from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from edge_controller.domain.pricing import (
    Calendar,
    Conditions,
    CostBreakdown,
    CostLimit,
    Description,
    EnergyPrice,
    FixedConditions,
    FixedPrice,
    Period,
    PriceList,
    Tariff,
    TaxRate,
    TimePrice,
    Usage,
)
from tests.unit.domain.pricing import ocpp_tariff as mapping

SCHEMAS = mapping.SCHEMA_PATH.parent


def _properties(schema: dict[str, Any], name: str) -> set[str]:
    return set(schema["definitions"][name]["properties"]) - {"customData"}


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def test_every_tariff_field_of_ocpp_21_has_a_place_in_the_model() -> None:
    schema = mapping.schema()
    tables: list[tuple[str, dict[str, Any], set[str]]] = [
        ("TariffType", mapping.TARIFF, _names(Tariff)),
        ("TariffEnergyType", mapping.PRICE_LIST, _names(PriceList)),
        ("TariffTimeType", mapping.PRICE_LIST, _names(PriceList)),
        ("TariffFixedType", mapping.PRICE_LIST, _names(PriceList)),
        ("TaxRateType", mapping.TAX_RATE, _names(TaxRate)),
        ("PriceType", mapping.PRICE, _names(CostLimit)),
        ("MessageContentType", mapping.MESSAGE, _names(Description)),
    ]
    for element, cls in (
        ("TariffEnergyPriceType", EnergyPrice),
        ("TariffTimePriceType", TimePrice),
        ("TariffFixedPriceType", FixedPrice),
    ):
        tables.append((element, {**mapping.ELEMENT, "conditions": "conditions"}, _names(cls)))
    for definition, table, model in tables:
        missing = _properties(schema, definition) - set(table)
        assert missing == set(), f"{definition}: {missing} not mapped"
        wrong = {table[p] for p in _properties(schema, definition)} - model
        assert wrong == set(), f"{definition}: {wrong} are not fields of the model"


def test_every_condition_of_ocpp_21_has_a_place_in_the_model() -> None:
    schema = mapping.schema()
    for definition, table, cls in (
        ("TariffConditionsType", mapping.CONDITIONS, Conditions),
        ("TariffConditionsFixedType", mapping.FIXED_CONDITIONS, FixedConditions),
    ):
        ocpp_names = _properties(schema, definition)
        assert ocpp_names == set(table) | set(mapping.CALENDAR), definition
        assert {name for name, _ in table.values()} <= _names(cls)
        assert {name for name, _ in mapping.CALENDAR.values()} <= _names(Calendar)


def test_the_breakdown_carries_every_figure_of_ocpp_21_cost_details() -> None:
    schema = json.loads((SCHEMAS / "TransactionEventRequest.json").read_text(encoding="utf-8"))
    total_cost = _properties(schema, "TotalCostType") - {"currency", "typeOfCost", "total"}
    components = {
        "fixed",
        "energy",
        "chargingTime",
        "idleTime",
        "reservationTime",
        "reservationFixed",
    }
    assert total_cost == components
    usage = {
        "energy": "energy_wh",
        "chargingTime": "session_time_s",  # OCPP: the whole duration, charging or not
        "idleTime": "idle_time_s",
        "reservationTime": "reservation_time_s",
    }
    assert _properties(schema, "TotalUsageType") == set(usage)
    assert all(hasattr(Usage, name) for name in usage.values())
    dimensions = {
        "Energy": "energy_wh",
        "ChargingTime": "duration_s",
        "IdleTIme": "duration_s",
        "MaxCurrent": "max_current_sum_a",
        "MinCurrent": "min_current_sum_a",
        "MaxPower": "max_power_w",
        "MinPower": "min_power_w",
    }
    assert set(schema["definitions"]["CostDimensionEnumType"]["enum"]) == set(dimensions)
    assert set(dimensions.values()) <= _names(Period)
    assert {"tariff_id", "type_of_cost", "total_excl_tax", "total_incl_tax"} <= _names(
        CostBreakdown
    )


def test_a_tariff_a_csms_could_not_send_is_refused() -> None:
    with pytest.raises(jsonschema.ValidationError):
        mapping.tariff_from_ocpp(
            {"tariffId": "t", "currency": "EUR", "energy": {"prices": [{"priceKwh": "0.30"}]}}
        )


def test_ocpp_numbers_arrive_as_decimal_and_stay_exact() -> None:
    raw = json.loads(
        '{"tariffId": "t", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.1}]}}',
        parse_float=Decimal,
    )
    tariff = mapping.tariff_from_ocpp(raw)
    assert tariff.energy is not None
    assert tariff.energy.prices[0].price_per_kwh == Decimal("0.1")
