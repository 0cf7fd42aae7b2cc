"""Typed entry points into the untyped ``ocpp`` package (one place for the type ignores).

Only its public modules: the 1.6 request and answer classes (``call``, ``call_result``), the
action names, and its camelCase/snake_case conversion of payloads. Framing, schema checks and
the RPC loop are ours (``rpc``, ``schemas``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ocpp.charge_point import (  # type: ignore[import-untyped]
    camel_to_snake_case,
    snake_to_camel_case,
)
from ocpp.v16 import call, call_result  # type: ignore[import-untyped]
from ocpp.v16.enums import Action  # type: ignore[import-untyped]


def request(action: str, payload: dict[str, Any]) -> Any:
    """The library's request object for a camelCase OCPP payload."""
    cls = getattr(call, action)
    return cls(**camel_to_snake_case(payload))


def payload_of(message: Any) -> dict[str, Any]:
    """The camelCase payload of a request or answer object, optional members left out."""
    data: dict[str, Any] = snake_to_camel_case(without_nulls(dataclasses.asdict(message)))
    return data


def answer_of(action: str, payload: dict[str, Any]) -> Any:
    """The library's answer object for the camelCase answer to ``action``."""
    cls = getattr(call_result, action)
    return cls(**camel_to_snake_case(payload))


def without_nulls(data: Any) -> Any:
    """OCPP leaves optional members out instead of sending null."""
    if isinstance(data, dict):
        return {k: without_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [without_nulls(v) for v in data if v is not None]
    return data


def camel(data: Any) -> Any:
    """Handler arguments arrive snake_case; OCPP objects are stored camelCase."""
    return snake_to_camel_case(data)


def snake(data: Any) -> Any:
    """A camelCase payload as the library's keyword arguments."""
    return camel_to_snake_case(data)


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
