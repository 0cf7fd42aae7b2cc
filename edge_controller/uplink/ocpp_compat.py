"""The OCPP 1.6 request and answer objects, made from the official schemas the ``ocpp`` package
ships, and the camelCase/snake_case conversion of payloads.

Not the package's own 1.6 classes: importing any module of ``ocpp.v16`` runs the package's
ChargePoint, which imports ``jsonschema`` (with ``referencing``, ``attrs`` and ``rpds``): about
2 MB of objects and a shared library in a daemon that never uses them, as framing, schema checks
and the RPC loop are ours (``rpc``, ``schemas``). A class here is a dataclass like the package's:
the action's name, one field per member of its schema (snake_case), the optional ones None by
default; made on first use.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from enum import StrEnum
from importlib import resources
from typing import Any

_SCHEMAS = resources.files("ocpp") / "v16" / "schemas"
# Where a camelCase name starts a word: after a small letter or digit, and before the last
# capital of a run followed by a small letter ("idTagInfo", "SoCLimit", "meterValue").
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class Action(StrEnum):
    """The CSMS's 1.6 requests a handler answers (``rpc.on``)."""

    cancel_reservation = "CancelReservation"
    change_availability = "ChangeAvailability"
    change_configuration = "ChangeConfiguration"
    clear_cache = "ClearCache"
    clear_charging_profile = "ClearChargingProfile"
    data_transfer = "DataTransfer"
    get_composite_schedule = "GetCompositeSchedule"
    get_configuration = "GetConfiguration"
    get_diagnostics = "GetDiagnostics"
    get_local_list_version = "GetLocalListVersion"
    remote_start_transaction = "RemoteStartTransaction"
    remote_stop_transaction = "RemoteStopTransaction"
    reserve_now = "ReserveNow"
    reset = "Reset"
    send_local_list = "SendLocalList"
    set_charging_profile = "SetChargingProfile"
    trigger_message = "TriggerMessage"
    unlock_connector = "UnlockConnector"


class _Messages:
    """``call.Authorize`` (a request) or ``call_result.Authorize`` (its answer): the class."""

    def __init__(self, schema_suffix: str) -> None:
        self._suffix = schema_suffix

    def __getattr__(self, action: str) -> Any:
        if not action[:1].isupper():  # dunders and the like, asked by tools
            raise AttributeError(action)
        return _message_class(action, self._suffix)


@functools.cache
def _message_class(action: str, schema_suffix: str) -> type:
    try:
        text = (_SCHEMAS / f"{action}{schema_suffix}.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AttributeError(f"OCPP 1.6 has no {action}{schema_suffix}") from None
    schema = json.loads(text)
    members = list(schema.get("properties", {}))
    required = set(schema.get("required", ()))
    fields: list[Any] = [(snake_key(m), Any) for m in members if m in required]
    fields += [(snake_key(m), Any, None) for m in members if m not in required]
    return dataclasses.make_dataclass(action, fields)


call = _Messages("")
call_result = _Messages("Response")


def request(action: str, payload: dict[str, Any]) -> Any:
    """The request object for a camelCase OCPP payload."""
    return getattr(call, action)(**snake(payload))


def payload_of(message: Any) -> dict[str, Any]:
    """The camelCase payload of a request or answer object, optional members left out."""
    data: dict[str, Any] = camel(without_nulls(dataclasses.asdict(message)))
    return data


def answer_of(action: str, payload: dict[str, Any]) -> Any:
    """The answer object for the camelCase answer to ``action``."""
    return getattr(call_result, action)(**snake(payload))


def without_nulls(data: Any) -> Any:
    """OCPP leaves optional members out instead of sending null."""
    if isinstance(data, dict):
        return {k: without_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [without_nulls(v) for v in data if v is not None]
    return data


@functools.cache
def snake_key(name: str) -> str:
    """``idTagInfo`` → ``id_tag_info``."""
    return _WORD_START.sub("_", name).lower()


@functools.cache
def camel_key(name: str) -> str:
    """``id_tag_info`` → ``idTagInfo``."""
    first, *rest = name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def camel(data: Any) -> Any:
    """Every key of every mapping in ``data`` camelCase (handler arguments arrive snake_case;
    OCPP objects are stored camelCase)."""
    if isinstance(data, dict):
        return {camel_key(k): camel(v) for k, v in data.items()}
    if isinstance(data, list):
        return [camel(v) for v in data]
    return data


def snake(data: Any) -> Any:
    """A camelCase payload as keyword arguments: every key of every mapping snake_case."""
    if isinstance(data, dict):
        return {snake_key(k): snake(v) for k, v in data.items()}
    if isinstance(data, list):
        return [snake(v) for v in data]
    return data


__all__ = [
    "Action",
    "answer_of",
    "call",
    "call_result",
    "camel",
    "payload_of",
    "request",
    "snake",
]
