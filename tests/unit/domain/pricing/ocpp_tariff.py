"""OCPP 2.1 TariffType (JSON, as SetDefaultTariff carries it) to the pricing model, for the test
cases: the mapping the package documents, written as tables so that a test can hold them
against the schema the ``ocpp`` package ships."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import ocpp

from edge_controller.domain.pricing import (
    Calendar,
    Conditions,
    CostLimit,
    Currency,
    Description,
    EnergyPrice,
    EvseKind,
    FixedConditions,
    FixedPrice,
    PriceList,
    Tariff,
    TaxRate,
    TimePrice,
    Weekday,
)

SCHEMA_PATH = Path(ocpp.__file__).parent / "v21" / "schemas" / "SetDefaultTariffRequest.json"

Raw = dict[str, Any]


def _hhmm(text: str) -> time:
    return time.fromisoformat(text)


def _days(names: list[str]) -> frozenset[Weekday]:
    return frozenset(Weekday[name.upper()] for name in names)


# OCPP field -> (model field, conversion); every table is checked against the schema.
CALENDAR: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "startTimeOfDay": ("start_time_of_day", _hhmm),
    "endTimeOfDay": ("end_time_of_day", _hhmm),
    "dayOfWeek": ("days_of_week", _days),
    "validFromDate": ("valid_from_date", date.fromisoformat),
    "validToDate": ("valid_to_date", date.fromisoformat),
}
CONDITIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "evseKind": ("evse_kind", EvseKind),
    **{
        ocpp_name: (model_name, Decimal)
        for ocpp_name, model_name in {
            "minEnergy": "min_energy_wh",
            "maxEnergy": "max_energy_wh",
            "minCurrent": "min_current_a",
            "maxCurrent": "max_current_a",
            "minPower": "min_power_w",
            "maxPower": "max_power_w",
        }.items()
    },
    **{
        ocpp_name: (model_name, int)
        for ocpp_name, model_name in {
            "minTime": "min_time_s",
            "maxTime": "max_time_s",
            "minChargingTime": "min_charging_time_s",
            "maxChargingTime": "max_charging_time_s",
            "minIdleTime": "min_idle_time_s",
            "maxIdleTime": "max_idle_time_s",
        }.items()
    },
}
FIXED_CONDITIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "evseKind": ("evse_kind", EvseKind),
    "paymentBrand": ("payment_brand", str),
    "paymentRecognition": ("payment_recognition", str),
}
TAX_RATE = {"type": "name", "tax": "percent", "stack": "stack"}
PRICE = {"exclTax": "excl_tax", "inclTax": "incl_tax", "taxRates": "tax_rates"}
PRICE_LIST = {"prices": "prices", "taxRates": "tax_rates"}
ELEMENT = {"priceKwh": "price_per_kwh", "priceMinute": "price_per_minute", "priceFixed": "price"}
MESSAGE = {"format": "format", "language": "language", "content": "text"}
TARIFF = {
    "tariffId": "tariff_id",
    "currency": "currency",
    "description": "descriptions",
    "validFrom": "valid_from",
    "energy": "energy",
    "chargingTime": "charging_time",
    "idleTime": "idle_time",
    "fixedFee": "fixed_fee",
    "reservationTime": "reservation_time",
    "reservationFixed": "reservation_fixed",
    "minCost": "min_cost",
    "maxCost": "max_cost",
}


def schema() -> Raw:
    loaded: Raw = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def validate(raw: Raw) -> None:
    """Refuses what a CSMS could not send in SetDefaultTariff."""
    jsonschema.Draft6Validator(schema()).validate({"evseId": 0, "tariff": raw})


def tariff_from_ocpp(raw: Raw, version: int = 1, prices_include_tax: bool = False) -> Tariff:
    validate(raw)
    fields: dict[str, Any] = {
        "tariff_id": raw["tariffId"],
        "currency": Currency.of(raw["currency"]),
        "version": version,
        "prices_include_tax": prices_include_tax,
        "descriptions": tuple(
            Description(m["content"], m.get("language"), m["format"])
            for m in raw.get("description", ())
        ),
        "valid_from": datetime.fromisoformat(raw["validFrom"]) if "validFrom" in raw else None,
    }
    for key, element in (("energy", _energy), ("chargingTime", _time), ("idleTime", _time)):
        fields[TARIFF[key]] = _list(raw.get(key), element)
    for key, element in (("reservationTime", _time), ("fixedFee", _fixed)):
        fields[TARIFF[key]] = _list(raw.get(key), element)
    fields["reservation_fixed"] = _list(raw.get("reservationFixed"), _fixed)
    fields["min_cost"] = _limit(raw.get("minCost"))
    fields["max_cost"] = _limit(raw.get("maxCost"))
    return Tariff(**fields)


def _list(raw: Raw | None, element: Callable[[Raw], Any]) -> PriceList[Any] | None:
    if raw is None:
        return None
    return PriceList(tuple(element(p) for p in raw["prices"]), _taxes(raw.get("taxRates")))


def _energy(raw: Raw) -> EnergyPrice:
    return EnergyPrice(Decimal(raw["priceKwh"]), _conditions(raw.get("conditions")))


def _time(raw: Raw) -> TimePrice:
    return TimePrice(Decimal(raw["priceMinute"]), _conditions(raw.get("conditions")))


def _fixed(raw: Raw) -> FixedPrice:
    cond = raw.get("conditions")
    fixed = (
        None if cond is None else FixedConditions(_calendar(cond), **_pick(cond, FIXED_CONDITIONS))
    )
    return FixedPrice(Decimal(raw["priceFixed"]), fixed)


def _conditions(raw: Raw | None) -> Conditions | None:
    if raw is None:
        return None
    return Conditions(_calendar(raw), **_pick(raw, CONDITIONS))


def _calendar(raw: Raw) -> Calendar:
    return Calendar(**_pick(raw, CALENDAR))


def _pick(raw: Raw, table: dict[str, tuple[str, Callable[[Any], Any]]]) -> dict[str, Any]:
    return {name: convert(raw[key]) for key, (name, convert) in table.items() if key in raw}


def _taxes(raw: list[Raw] | None) -> tuple[TaxRate, ...]:
    return tuple(TaxRate(r["type"], Decimal(r["tax"]), int(r.get("stack", 0))) for r in raw or ())


def _limit(raw: Raw | None) -> CostLimit | None:
    if raw is None:
        return None
    return CostLimit(
        Decimal(raw["exclTax"]) if "exclTax" in raw else None,
        Decimal(raw["inclTax"]) if "inclTax" in raw else None,
        _taxes(raw.get("taxRates")),
    )
