"""Typed entry points into the untyped ``ocpp`` package (one place for the type ignores)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ocpp import messages as ocpp_messages  # type: ignore[import-untyped]
from ocpp.charge_point import (  # type: ignore[import-untyped]
    camel_to_snake_case,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError  # type: ignore[import-untyped]
from ocpp.messages import Call, validate_payload  # type: ignore[import-untyped]
from ocpp.routing import on as _on  # type: ignore[import-untyped]
from ocpp.v16 import call, call_result  # type: ignore[import-untyped]
from ocpp.v16.enums import Action  # type: ignore[import-untyped]

F = TypeVar("F", bound=Callable[..., Any])

# Payloads are bounded by max_frame_bytes; validating them inline is cheaper than a hand-off to
# a worker thread per message (measured in bench/bench_ocpp.py).
ocpp_messages.ASYNC_VALIDATION = False


def on(action: str) -> Callable[[F], F]:
    """``ocpp.routing.on`` with a type mypy can follow."""
    decorator: Callable[[F], F] = _on(action)
    return decorator


def request(action: str, payload: dict[str, Any]) -> Any:
    """The library's request object for a camelCase OCPP payload."""
    cls = getattr(call, action)
    return cls(**camel_to_snake_case(payload))


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """A CALL framed and schema-checked ahead of its turn: sending it is all that is left."""

    unique_id: str
    action: str
    frame: str


async def frame_call(
    action: str, payload: dict[str, Any], unique_id: str | None = None
) -> OutgoingCall:
    """The CALL for a camelCase OCPP 1.6 payload, checked against the library's schema as its
    own call path checks it (OCPPError when the payload violates it); ``unique_id`` None: a
    fresh one, as the library makes them."""
    message = Call(unique_id or str(uuid.uuid4()), action, payload)
    await validate_payload(message, "1.6")
    return OutgoingCall(message.unique_id, action, message.to_json())


async def check_answer(action: str, answer: Any) -> None:
    """Schema check of a CALLRESULT (the library's ``CallResult``), as its call path does it."""
    answer.action = action
    await validate_payload(answer, "1.6")


def camel(data: Any) -> Any:
    """Handler arguments arrive snake_case; OCPP objects are stored camelCase."""
    return snake_to_camel_case(data)


__all__ = [
    "Action",
    "OCPPError",
    "OutgoingCall",
    "call",
    "call_result",
    "camel",
    "check_answer",
    "frame_call",
    "on",
    "request",
]
