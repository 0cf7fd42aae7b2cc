"""Tariffs and cost breakdowns as plain JSON values: what the config's ``tariffs:`` section
holds, what the database stores, what receipts carry.

One shape for a tariff everywhere (snake_case, the model's names): amounts and percentages are
decimal strings (numbers are accepted on the way in and read through their text, never as a
binary fraction), times of day "hh:mm", dates ISO 8601, days of week lowercase English names.
Conditions are one flat object: the calendar fields next to the others.

```
{"id": "standard", "currency": "EUR", "prices_include_tax": true,
 "energy": {"prices": [{"price_per_kwh": "0.49"}], "tax_rates": [{"name": "VAT", "percent": "19"}]},
 "idle_time": {"prices": [{"price_per_minute": "0.10", "conditions": {"min_idle_time_s": 3600}}]},
 "fixed_fee": {"prices": [{"price": "1.00"}]}, "min_cost": {"incl_tax": "2.00"},
 "descriptions": [{"text": "0.49 EUR/kWh", "language": "en"}]}
```
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from edge_controller.domain.pricing.breakdown import CostBreakdown, Period
from edge_controller.domain.pricing.money import Currency, Money, MoneyError
from edge_controller.domain.pricing.recorded import AdHocPrice, UnitPrice
from edge_controller.domain.pricing.tariff import (
    Calendar,
    Conditions,
    CostLimit,
    Description,
    EnergyPrice,
    EvseKind,
    FixedConditions,
    FixedPrice,
    PriceList,
    Tariff,
    TariffError,
    TaxRate,
    TimePrice,
    Weekday,
)

Json = dict[str, Any]
DECIMAL_CONDITIONS = (
    "min_energy_wh",
    "max_energy_wh",
    "min_current_a",
    "max_current_a",
    "min_power_w",
    "max_power_w",
)
SECOND_CONDITIONS = (
    "min_time_s",
    "max_time_s",
    "min_charging_time_s",
    "max_charging_time_s",
    "min_idle_time_s",
    "max_idle_time_s",
)
TIME_LISTS = ("charging_time", "idle_time", "reservation_time")
FIXED_LISTS = ("fixed_fee", "reservation_fixed")


# --- tariff -> JSON ---------------------------------------------------------------------------
def tariff_to_json(tariff: Tariff) -> Json:
    """The tariff in the shared shape, without its version (the store numbers versions)."""
    out: Json = {"id": tariff.tariff_id, "currency": tariff.currency.code}
    if tariff.prices_include_tax:
        out["prices_include_tax"] = True
    if tariff.valid_from is not None:
        out["valid_from"] = tariff.valid_from.isoformat()
    if tariff.energy is not None:
        out["energy"] = _list_json(tariff.energy, lambda p: {"price_per_kwh": str(p.price_per_kwh)})
    for name in TIME_LISTS:
        found: PriceList[TimePrice] | None = getattr(tariff, name)
        if found is not None:
            out[name] = _list_json(found, lambda p: {"price_per_minute": str(p.price_per_minute)})
    for name in FIXED_LISTS:
        fixed: PriceList[FixedPrice] | None = getattr(tariff, name)
        if fixed is not None:
            out[name] = _list_json(fixed, lambda p: {"price": str(p.price)})
    for name in ("min_cost", "max_cost"):
        limit: CostLimit | None = getattr(tariff, name)
        if limit is not None:
            out[name] = _limit_json(limit)
    if tariff.descriptions:
        out["descriptions"] = [_description_json(d) for d in tariff.descriptions]
    return out


def canonical(body: Json) -> str:
    """One spelling of a tariff's JSON, to tell whether two tariffs are the same."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _list_json(price_list: PriceList[Any], unit: Callable[[Any], Json]) -> Json:
    prices = []
    for element in price_list.prices:
        entry = unit(element)
        if element.conditions is not None:
            entry["conditions"] = _conditions_json(element.conditions)
        prices.append(entry)
    out: Json = {"prices": prices}
    if price_list.tax_rates:
        out["tax_rates"] = [_rate_json(r) for r in price_list.tax_rates]
    return out


def _rate_json(rate: TaxRate) -> Json:
    return {"name": rate.name, "percent": str(rate.percent), "stack": rate.stack}


def _limit_json(limit: CostLimit) -> Json:
    out: Json = {}
    if limit.excl_tax is not None:
        out["excl_tax"] = str(limit.excl_tax)
    if limit.incl_tax is not None:
        out["incl_tax"] = str(limit.incl_tax)
    if limit.tax_rates:
        out["tax_rates"] = [_rate_json(r) for r in limit.tax_rates]
    return out


def _description_json(text: Description) -> Json:
    out: Json = {"text": text.text}
    if text.language is not None:
        out["language"] = text.language
    if text.format != "UTF8":
        out["format"] = text.format
    return out


def _conditions_json(cond: Conditions | FixedConditions) -> Json:
    cal = cond.calendar
    out: Json = {}
    if cal.start_time_of_day is not None:
        out["start_time_of_day"] = cal.start_time_of_day.strftime("%H:%M")
    if cal.end_time_of_day is not None:
        out["end_time_of_day"] = cal.end_time_of_day.strftime("%H:%M")
    if cal.days_of_week is not None:
        out["days_of_week"] = [d.name.lower() for d in sorted(cal.days_of_week)]
    if cal.valid_from_date is not None:
        out["valid_from_date"] = cal.valid_from_date.isoformat()
    if cal.valid_to_date is not None:
        out["valid_to_date"] = cal.valid_to_date.isoformat()
    if cond.evse_kind is not None:
        out["evse_kind"] = cond.evse_kind.value
    if isinstance(cond, FixedConditions):
        for name in ("payment_brand", "payment_recognition"):
            if getattr(cond, name) is not None:
                out[name] = getattr(cond, name)
        return out
    for name in DECIMAL_CONDITIONS:
        if getattr(cond, name) is not None:
            out[name] = str(getattr(cond, name))
    for name in SECOND_CONDITIONS:
        if getattr(cond, name) is not None:
            out[name] = getattr(cond, name)
    return out


# --- JSON -> tariff ---------------------------------------------------------------------------
def tariff_from_json(body: Mapping[str, Any], version: int = 1) -> Tariff:
    """The tariff a JSON value describes; TariffError names the field and the reason."""
    try:
        return _tariff(body, version)
    except TariffError:
        raise
    except MoneyError as exc:
        raise TariffError(f"currency: {exc}") from None
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise TariffError(f"not a tariff: {exc!r}") from None


def _tariff(body: Mapping[str, Any], version: int) -> Tariff:
    fields: dict[str, Any] = {
        "tariff_id": str(body["id"]),
        "currency": Currency.of(str(body["currency"])),
        "version": version,
        "prices_include_tax": bool(body.get("prices_include_tax", False)),
    }
    if body.get("valid_from") is not None:
        fields["valid_from"] = datetime.fromisoformat(str(body["valid_from"]))
    if body.get("energy") is not None:
        fields["energy"] = _list(
            body["energy"],
            lambda e: EnergyPrice(_dec(e["price_per_kwh"]), _conditions(e.get("conditions"))),
        )
    for name in TIME_LISTS:
        if body.get(name) is not None:
            fields[name] = _list(
                body[name],
                lambda e: TimePrice(_dec(e["price_per_minute"]), _conditions(e.get("conditions"))),
            )
    for name in FIXED_LISTS:
        if body.get(name) is not None:
            fields[name] = _list(body[name], lambda e: FixedPrice(_dec(e["price"]), _fixed(e)))
    for name in ("min_cost", "max_cost"):
        if body.get(name) is not None:
            fields[name] = _limit(body[name])
    fields["descriptions"] = tuple(
        Description(str(d["text"]), d.get("language"), str(d.get("format", "UTF8")))
        for d in body.get("descriptions") or ()
    )
    return Tariff(**fields)


def _dec(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise TariffError(f"{value!r} is not a number")
    # A float is read through its shortest text (0.49, as written), never its binary value.
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _rates(raw: Any) -> tuple[TaxRate, ...]:
    return tuple(
        TaxRate(str(r["name"]), _dec(r["percent"]), int(r.get("stack", 0))) for r in raw or ()
    )


def _list(raw: Mapping[str, Any], element: Callable[[Mapping[str, Any]], Any]) -> PriceList[Any]:
    return PriceList(tuple(element(e) for e in raw["prices"]), _rates(raw.get("tax_rates")))


def _limit(raw: Mapping[str, Any]) -> CostLimit:
    excl, incl = raw.get("excl_tax"), raw.get("incl_tax")
    return CostLimit(
        None if excl is None else _dec(excl),
        None if incl is None else _dec(incl),
        _rates(raw.get("tax_rates")),
    )


def _calendar(raw: Mapping[str, Any]) -> Calendar:
    def hhmm(name: str) -> time | None:
        value = raw.get(name)
        return None if value is None else time.fromisoformat(str(value))

    def day(name: str) -> date | None:
        value = raw.get(name)
        return None if value is None else date.fromisoformat(str(value))

    days = raw.get("days_of_week")
    return Calendar(
        start_time_of_day=hhmm("start_time_of_day"),
        end_time_of_day=hhmm("end_time_of_day"),
        days_of_week=None if days is None else frozenset(Weekday[str(d).upper()] for d in days),
        valid_from_date=day("valid_from_date"),
        valid_to_date=day("valid_to_date"),
    )


def _conditions(raw: Mapping[str, Any] | None) -> Conditions | None:
    if raw is None:
        return None
    values: dict[str, Any] = {n: _dec(raw[n]) for n in DECIMAL_CONDITIONS if raw.get(n) is not None}
    values |= {n: int(raw[n]) for n in SECOND_CONDITIONS if raw.get(n) is not None}
    kind = raw.get("evse_kind")
    return Conditions(_calendar(raw), evse_kind=None if kind is None else EvseKind(kind), **values)


def _fixed(element: Mapping[str, Any]) -> FixedConditions | None:
    raw = element.get("conditions")
    if raw is None:
        return None
    kind = raw.get("evse_kind")
    return FixedConditions(
        _calendar(raw),
        evse_kind=None if kind is None else EvseKind(kind),
        payment_brand=raw.get("payment_brand"),
        payment_recognition=raw.get("payment_recognition"),
    )


# --- breakdown -> JSON ------------------------------------------------------------------------
def money_json(amount: Money) -> str:
    return str(amount.amount)


def breakdown_to_json(found: CostBreakdown) -> Json:
    """The breakdown as receipts and the database keep it: amounts as decimal strings in the
    currency's minor unit, times as ISO 8601 UTC."""
    return {
        "tariff_id": found.tariff_id,
        "tariff_version": found.tariff_version,
        "currency": found.currency.code,
        "type_of_cost": found.type_of_cost.value,
        "total_excl_tax": money_json(found.total_excl_tax),
        "total_incl_tax": money_json(found.total_incl_tax),
        "components": [
            {
                "component": a.component.value,
                "excl_tax": money_json(a.excl_tax),
                "incl_tax": money_json(a.incl_tax),
            }
            for a in found.components
        ],
        "taxes": [
            {
                "name": t.name,
                "percent": None if t.percent is None else str(t.percent),
                "stack": t.stack,
                "amount": money_json(t.amount),
            }
            for t in found.taxes
        ],
        "periods": [_period_json(p) for p in found.periods],
        "usage": {
            "energy_wh": str(found.usage.energy_wh),
            "charging_time_s": str(found.usage.charging_time_s),
            "idle_time_s": str(found.usage.idle_time_s),
            "reservation_time_s": str(found.usage.reservation_time_s),
        },
        "priced_until": _utc(found.priced_until),
        "stop_register_unknown": found.stop_register_unknown,
    }


def _period_json(period: Period) -> Json:
    # The tariff of a period only where the session's tariff changed (older costs have none).
    named: Json = {} if period.tariff_id is None else {"tariff_id": period.tariff_id}
    return named | {
        "start": _utc(period.start),
        "end": _utc(period.end),
        "activity": period.activity.value,
        "energy_wh": str(period.energy_wh),
        "duration_s": str(period.duration_s),
        "prices": [
            {"component": p.component.value, "index": p.index, "unit_price": str(p.unit_price)}
            for p in period.prices
        ],
        "amounts": [
            {
                "component": a.component.value,
                "excl_tax": money_json(a.excl_tax),
                "incl_tax": money_json(a.incl_tax),
            }
            for a in period.amounts
        ],
        "excl_tax": money_json(period.excl_tax),
        "incl_tax": money_json(period.incl_tax),
    }


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- what status surfaces show ----------------------------------------------------------------
def running_cost_json(found: CostBreakdown) -> Json:
    """A running (or final) cost as the status view and MQTT show it."""
    return {
        "tariff_id": found.tariff_id,
        "tariff_version": found.tariff_version,
        "currency": found.currency.code,
        "excl_tax": money_json(found.total_excl_tax),
        "incl_tax": money_json(found.total_incl_tax),
        "energy_wh": str(found.usage.energy_wh),
        "until_s": found.priced_until.timestamp(),
    }


def ad_hoc_json(price: AdHocPrice) -> Json:
    """The price before a start (AFIR ad hoc price), tax included; a null is no such price."""

    def unit(found: UnitPrice | None) -> str | None:
        return None if found is None else str(found.amount)

    idle = price.per_minute_idle
    return {
        "tariff_id": price.tariff_id,
        "tariff_version": price.tariff_version,
        "currency": price.currency,
        "per_kwh": unit(price.per_kwh),
        "per_minute_charging": unit(price.per_minute_charging),
        "per_session": None if price.per_session is None else money_json(price.per_session),
        "per_minute_idle": unit(idle),
        "idle_after_s": None if idle is None else idle.after_s,
        "text": price.text,
    }
