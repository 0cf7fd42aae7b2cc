"""The Open Charge Alliance's pricing extension for OCPP 1.6: DataTransfer with vendor
``org.openchargealliance.costmsg`` whose ``data`` is a JSON text. Pure.

- ``SetUserPrice`` {idToken, priceText}: the price for one driver, for display.
- ``RunningCost`` {transactionId, timestamp, meterValue (Wh), cost, state (Charging | Idle),
  chargingPrice {kWhPrice, hourPrice, flatFee}, idlePrice?, nextPeriod?, triggerMeterValue?};
  the last two are acted on (``cost_triggers``).
- ``FinalCost`` {transactionId, cost, priceText, qrCodeText?}.

Only what the site shows is kept; a message that lacks a required field or has one of the
wrong type is refused with the reason (the CSMS gets Rejected). The text is bounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from edge_controller.domain.pricing.central import CentralCost
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.v16.cost_triggers import (
    MeterTrigger,
    NextPeriod,
    non_negative_number,
    parse_next_period,
    parse_trigger,
)

VENDOR_ID = "org.openchargealliance.costmsg"
MAX_DATA_CHARS = 8192
MAX_TEXT_CHARS = 512
MESSAGE_IDS = frozenset({"SetUserPrice", "RunningCost", "FinalCost"})


@dataclass(frozen=True, slots=True)
class UserPrice:
    id_tag: str
    text: str


@dataclass(frozen=True, slots=True)
class TransactionCost:
    transaction_id: int
    cost: CentralCost
    trigger: MeterTrigger | None = None  # RunningCost: when to send the next MeterValues
    next_period: NextPeriod | None = None  # RunningCost: the prices from a time on


def parse(message_id: str, data: Any) -> UserPrice | TransactionCost:
    """The message in ``data``; ValueError says what is wrong with it."""
    if not isinstance(data, str) or len(data) > MAX_DATA_CHARS:
        raise ValueError(f"data must be a JSON text of at most {MAX_DATA_CHARS} characters")
    try:
        body = json.loads(data, parse_float=Decimal, parse_int=int)
    except json.JSONDecodeError as exc:
        raise ValueError(f"data is not JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise ValueError("data is not a JSON object")
    if message_id == "SetUserPrice":
        return UserPrice(_text(body, "idToken", 20), _text(body, "priceText"))
    if message_id == "RunningCost":
        state = _text(body, "state")
        if state not in ("Charging", "Idle"):
            raise ValueError(f"state {state!r} is neither Charging nor Idle")
        if not isinstance(body.get("chargingPrice"), dict):
            raise ValueError("chargingPrice is missing or not an object")
        cost = CentralCost(
            _amount(body), False, from_iso(_text(body, "timestamp")), _int(body, "meterValue"),
            state == "Charging",
        )  # fmt: skip
        trigger, period = body.get("triggerMeterValue"), body.get("nextPeriod")
        return TransactionCost(
            _int(body, "transactionId"), cost,
            None if trigger is None else parse_trigger(trigger),
            None if period is None else parse_next_period(period),
        )  # fmt: skip
    if message_id == "FinalCost":
        qr = body.get("qrCodeText")
        cost = CentralCost(
            _amount(body), True, price_text=_text(body, "priceText"),
            qr_code_text=None if qr is None else _text(body, "qrCodeText"),
        )  # fmt: skip
        return TransactionCost(_int(body, "transactionId"), cost)
    raise ValueError(f"unknown messageId {message_id!r}")


def _text(body: dict[str, Any], name: str, limit: int = MAX_TEXT_CHARS) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{name} must be a text of 1 to {limit} characters")
    return value


def _int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def _amount(body: dict[str, Any]) -> Decimal:
    value = body.get("cost")
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("cost must be a number")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("cost must be a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("cost must be a finite number of at least 0")
    return amount


# --- the configuration keys of the extension --------------------------------------------------
DEFAULT_PRICE = "DefaultPrice"
PRICE_TEXT_LANGUAGES = ("en", "de")  # the languages the site's display speaks
PRICE_TEXT_KEYS = {f"DefaultPriceText,{lang}": lang for lang in PRICE_TEXT_LANGUAGES}
PRICE_KEYS = frozenset({DEFAULT_PRICE, *PRICE_TEXT_KEYS})
DEFAULT_TARIFF_ID = "ocpp16-default-price"


def _object(value: str) -> dict[str, Any]:
    if len(value) > MAX_DATA_CHARS:
        raise ValueError(f"at most {MAX_DATA_CHARS} characters")
    try:
        body = json.loads(value, parse_float=Decimal, parse_int=int)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def default_price_body(value: str, texts: dict[str, str]) -> dict[str, Any] | None:
    """The tariff (``domain.pricing.codec`` shape, without its currency) a DefaultPrice value
    stands for: kWhPrice per kWh, hourPrice per hour of charging, flatFee per session,
    idlePrice.hourPrice per hour idle after graceMinutes; the prices are what the driver pays.
    None: the value names no price (a text only). ``texts``: language -> DefaultPriceText."""
    body = _object(value)
    charging = body.get("chargingPrice") or {}
    idle = body.get("idlePrice") or {}
    if not isinstance(charging, dict) or not isinstance(idle, dict):
        raise ValueError("chargingPrice and idlePrice are objects")
    kwh, hour, flat = (
        non_negative_number(charging, n) for n in ("kWhPrice", "hourPrice", "flatFee")
    )
    idle_hour = non_negative_number(idle, "hourPrice")
    grace = idle.get("graceMinutes", 0)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise ValueError("idlePrice.graceMinutes must be a whole number of minutes")
    tariff: dict[str, Any] = {"id": DEFAULT_TARIFF_ID, "prices_include_tax": True}
    if kwh is not None:
        tariff["energy"] = {"prices": [{"price_per_kwh": str(kwh)}]}
    if hour is not None:  # per minute, as the model keeps time prices
        tariff["charging_time"] = {"prices": [{"price_per_minute": str(hour / 60)}]}
    if flat is not None:
        tariff["fixed_fee"] = {"prices": [{"price": str(flat)}]}
    if idle_hour is not None:
        element: dict[str, Any] = {"price_per_minute": str(idle_hour / 60)}
        if grace:
            element["conditions"] = {"min_idle_time_s": grace * 60}
        tariff["idle_time"] = {"prices": [element]}
    if len(tariff) == 2:
        return None
    text = body.get("priceText")
    shown = [{"text": t, "language": lang} for lang, t in sorted(texts.items()) if t]
    if not shown and isinstance(text, str) and text:
        shown = [{"text": text[:MAX_TEXT_CHARS]}]
    if shown:
        tariff["descriptions"] = shown
    return tariff


def price_text(value: str) -> str:
    """The priceText of a DefaultPriceText value ({"priceText", "priceTextOffline"})."""
    return _text(_object(value), "priceText")


def valid_default_price(value: str) -> bool:
    try:
        default_price_body(value, {})
    except ValueError:
        return False
    return True


def valid_price_text(value: str) -> bool:
    try:
        price_text(value)
    except ValueError:
        return False
    return True
