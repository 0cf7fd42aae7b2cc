"""Typed entry points into the untyped ``ocpp`` package (one place for the type ignores)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ocpp import messages as ocpp_messages  # type: ignore[import-untyped]
from ocpp.charge_point import (  # type: ignore[import-untyped]
    camel_to_snake_case,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError  # type: ignore[import-untyped]
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


def camel(data: Any) -> Any:
    """Handler arguments arrive snake_case; OCPP objects are stored camelCase."""
    return snake_to_camel_case(data)


__all__ = ["Action", "OCPPError", "call", "call_result", "camel", "on", "request"]
