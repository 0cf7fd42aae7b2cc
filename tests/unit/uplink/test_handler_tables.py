"""The CSMS-initiated handlers of a connection, by action: found through tables made once per
class, bound only when a CALL asks for one, so that a connection keeps no bound method per
action (with a thousand identities, a thousand connections)."""

from __future__ import annotations

import gc
import tracemalloc
from types import SimpleNamespace
from typing import Any

import pytest

from edge_controller.uplink.rpc import HandlersOf, on
from edge_controller.uplink.v16.charge_point import EdgeChargePoint


class Remote:
    @on("Reset")
    def reset(self, **payload: Any) -> str:
        return "remote reset"

    @on("UnlockConnector")
    def unlock(self, **payload: Any) -> str:
        return "remote unlock"

    def not_a_handler(self) -> None:
        """Unmarked: never found."""


class Override:
    @on("Reset")
    def reset(self, **payload: Any) -> str:
        return "override reset"


def test_handlers_are_found_by_action_a_later_object_first() -> None:
    handlers = HandlersOf(Remote(), Override())
    assert handlers["Reset"]() == "override reset"
    assert handlers["UnlockConnector"]() == "remote unlock"
    assert list(handlers) == ["Reset", "UnlockConnector"] and len(handlers) == 2
    assert handlers.get("not_a_handler") is None and "Heartbeat" not in handlers
    with pytest.raises(KeyError):
        handlers["ClearCache"]


def test_each_object_s_own_methods_are_bound() -> None:
    first, second = Remote(), Remote()
    assert HandlersOf(first)["Reset"].__self__ is first
    assert HandlersOf(second)["Reset"].__self__ is second


class _Connection:
    """What the endpoint reads of a websocket when it is made (nothing is sent)."""

    subprotocol = "ocpp1.6"

    async def recv(self) -> str:
        raise AssertionError("not read")

    async def send(self, message: str) -> None:
        raise AssertionError("not sent")


def _link() -> Any:
    settings = SimpleNamespace(call_timeout_s=30.0, max_frame_bytes=65536)
    return SimpleNamespace(settings=settings, release_staged=lambda: None, config=None)


def test_a_charge_point_keeps_no_handler_per_action() -> None:
    """The 1.6 charge point answers about thirty actions. Each connection used to keep a bound
    method and a wrapper per action: about 8 kB a connection, 8 MB at a thousand identities.
    Now it keeps its endpoint's own state; the table of names is its class's, made once."""
    count = 50
    first = EdgeChargePoint(_link(), _Connection())  # tables and schemas made before counting
    assert first.rpc._handlers["Reset"] is not None
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [EdgeChargePoint(_link(), _Connection()) for _ in range(count)]
        per_connection = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(kept) == count
    assert per_connection < 7000, per_connection
