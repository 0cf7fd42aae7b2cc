"""The OCPP 2.1 TariffType (as SetDefaultTariff, ChangeTransactionTariff and an Authorize
answer carry it) to the site's tariff JSON (``domain.pricing.codec``), and the TariffCostCtrlr
limits. Pure. The domain never sees the wire form: this is the only place that knows it.

Amounts are read through their text (a JSON number the connection parsed as a float keeps the
digits the CSMS wrote). OCPP 2.1 prices exclude tax; their taxRates say what is added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from edge_controller.domain.pricing.central import CentralCost

Json = dict[str, Any]
MAX_ELEMENTS = 50  # price elements one tariff may hold (TariffCostCtrlr MaxElements[Tariff])

# OCPP condition name -> the site's (the calendar fields sit next to the others in both)
CONDITIONS = {
    "startTimeOfDay": "start_time_of_day",
    "endTimeOfDay": "end_time_of_day",
    "dayOfWeek": "days_of_week",
    "validFromDate": "valid_from_date",
    "validToDate": "valid_to_date",
    "evseKind": "evse_kind",
    "minEnergy": "min_energy_wh",
    "maxEnergy": "max_energy_wh",
    "minCurrent": "min_current_a",
    "maxCurrent": "max_current_a",
    "minPower": "min_power_w",
    "maxPower": "max_power_w",
    "minTime": "min_time_s",
    "maxTime": "max_time_s",
    "minChargingTime": "min_charging_time_s",
    "maxChargingTime": "max_charging_time_s",
    "minIdleTime": "min_idle_time_s",
    "maxIdleTime": "max_idle_time_s",
    "paymentBrand": "payment_brand",
    "paymentRecognition": "payment_recognition",
}
DECIMALS = {"minEnergy", "maxEnergy", "minCurrent", "maxCurrent", "minPower", "maxPower"}
# price list -> (the site's name, the OCPP price field, the site's price field)
LISTS = {
    "energy": ("energy", "priceKwh", "price_per_kwh"),
    "chargingTime": ("charging_time", "priceMinute", "price_per_minute"),
    "idleTime": ("idle_time", "priceMinute", "price_per_minute"),
    "reservationTime": ("reservation_time", "priceMinute", "price_per_minute"),
    "fixedFee": ("fixed_fee", "priceFixed", "price"),
    "reservationFixed": ("reservation_fixed", "priceFixed", "price"),
}


class WireTariffError(ValueError):
    """A TariffType the site cannot take; the message names the field."""


def _amount(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise WireTariffError(f"{where}: {value!r} is not a number")
    return str(value)


def central_cost(total: Any, final: bool) -> CentralCost | None:
    """A cost as the CSMS sent it (totalCost, tax included); None when it is no amount."""
    try:
        amount = Decimal(str(total))
    except InvalidOperation:
        return None
    return CentralCost(amount, final) if amount.is_finite() and amount >= 0 else None


def site_tariff(wire: Mapping[str, Any]) -> Json:
    """The site's tariff JSON of a TariffType (schema-checked by the connection)."""
    body: Json = {"id": str(wire["tariffId"]), "currency": str(wire["currency"])}
    if "validFrom" in wire:
        body["valid_from"] = str(wire["validFrom"]).replace("Z", "+00:00")
    for key, (name, price, site_price) in LISTS.items():
        if key in wire:
            body[name] = _list(wire[key], price, site_price, key)
    for key, name in (("minCost", "min_cost"), ("maxCost", "max_cost")):
        if key in wire:
            body[name] = _limit(wire[key], key)
    texts = wire.get("description") or ()
    if texts:
        body["descriptions"] = [_text(m) for m in texts]
    return body


def element_count(wire: Mapping[str, Any]) -> int:
    return sum(len(wire[key].get("prices", ())) for key in LISTS if key in wire)


def _list(raw: Mapping[str, Any], price: str, site_price: str, where: str) -> Json:
    prices = []
    for number, element in enumerate(raw["prices"]):
        entry: Json = {site_price: _amount(element[price], f"{where}.prices[{number}]")}
        if "conditions" in element:
            entry["conditions"] = _conditions(element["conditions"])
        prices.append(entry)
    out: Json = {"prices": prices}
    if raw.get("taxRates"):
        out["tax_rates"] = [_rate(r, where) for r in raw["taxRates"]]
    return out


def _rate(raw: Mapping[str, Any], where: str) -> Json:
    return {
        "name": str(raw["type"]),
        "percent": _amount(raw["tax"], f"{where}.taxRates"),
        "stack": int(raw.get("stack", 0)),
    }


def _limit(raw: Mapping[str, Any], where: str) -> Json:
    out: Json = {}
    for key, name in (("exclTax", "excl_tax"), ("inclTax", "incl_tax")):
        if key in raw:
            out[name] = _amount(raw[key], where)
    if raw.get("taxRates"):
        out["tax_rates"] = [_rate(r, where) for r in raw["taxRates"]]
    return out


def _conditions(raw: Mapping[str, Any]) -> Json:
    convert: dict[str, Callable[[Any], Any]] = {
        "dayOfWeek": lambda days: [str(d).lower() for d in days],
        **{key: lambda v: _amount(v, "conditions") for key in DECIMALS},
    }
    return {
        CONDITIONS[key]: convert.get(key, lambda v: v)(value)
        for key, value in raw.items()
        if key in CONDITIONS
    }


def _text(raw: Mapping[str, Any]) -> Json:
    out: Json = {"text": str(raw["content"])}
    if raw.get("language"):
        out["language"] = str(raw["language"])
    if raw.get("format", "UTF8") != "UTF8":
        out["format"] = str(raw["format"])
    return out


# --- the site's cost as OCPP 2.1 CostDetailsType (local cost calculation) ---------------------
COST_TYPES = {"normal": "NormalCost", "min_cost": "MinCost", "max_cost": "MaxCost"}
COMPONENTS = {
    "energy": "energy",
    "charging_time": "chargingTime",
    "idle_time": "idleTime",
    "fixed": "fixed",
    "reservation_time": "reservationTime",
    "reservation_fixed": "reservationFixed",
}
# The schema's own spelling of the idle dimension ("IdleTIme") is what a strict CSMS checks.
TIME_DIMENSIONS = {"charging": "ChargingTime", "idle": "IdleTIme"}
MAX_PERIODS = 48  # more charging periods than this: the totals go alone (a frame stays small)


def cost_details(breakdown: Mapping[str, Any]) -> Json:
    """CostDetailsType of a stored cost breakdown (``domain.pricing.codec.breakdown_to_json``):
    the same figures, amounts in the currency, energy in Wh, times in whole seconds."""
    total: Json = {
        "currency": breakdown["currency"],
        "typeOfCost": COST_TYPES[breakdown["type_of_cost"]],
        "total": _price(breakdown["total_excl_tax"], breakdown["total_incl_tax"]),
    }
    for part in breakdown["components"]:
        name = COMPONENTS.get(part["component"])
        if name is not None:
            total[name] = _price(part["excl_tax"], part["incl_tax"])
    usage = breakdown["usage"]
    found: Json = {
        "totalCost": total,
        "totalUsage": {
            "energy": Decimal(usage["energy_wh"]),
            "chargingTime": _seconds(usage["charging_time_s"]),
            "idleTime": _seconds(usage["idle_time_s"]),
            "reservationTime": _seconds(usage["reservation_time_s"]),
        },
    }
    periods = [p for p in breakdown["periods"] if p["activity"] in TIME_DIMENSIONS]
    if 0 < len(periods) <= MAX_PERIODS:
        found["chargingPeriods"] = [_period(p, str(breakdown["tariff_id"])) for p in periods]
    return found


def _price(excl: str, incl: str) -> Json:
    return {"exclTax": Decimal(excl), "inclTax": Decimal(incl)}


def _seconds(value: str) -> int:
    return int(Decimal(value).to_integral_value())


def _period(period: Mapping[str, Any], tariff_id: str) -> Json:
    return {
        "tariffId": str(period.get("tariff_id", tariff_id)),  # its own after a change
        "startPeriod": period["start"],
        "dimensions": [
            {"type": "Energy", "volume": Decimal(period["energy_wh"])},
            {"type": TIME_DIMENSIONS[period["activity"]], "volume": Decimal(period["duration_s"])},
        ],
    }
