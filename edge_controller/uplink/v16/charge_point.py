"""The OCPP 1.6 charge point on one websocket: the CSMS-initiated handlers on an RPC endpoint.

The handlers take the library's snake_case keyword arguments and return its answer objects;
``EdgeChargePoint`` turns them into the endpoint's payload handlers. Handlers never ``await``
an OCPP call (the answer could only be read after their own): work that needs a CALL is
staged as a follow-up and released after the handler's answer was sent.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from edge_controller.uplink.dialect import OCPP16, UnknownSubprotocol
from edge_controller.uplink.handlers.config import ConfigHandlers
from edge_controller.uplink.handlers.local_list import LocalListHandlers
from edge_controller.uplink.handlers.remote import RemoteHandlers
from edge_controller.uplink.handlers.reservation import ReservationHandlers
from edge_controller.uplink.handlers.security import SecurityHandlers16
from edge_controller.uplink.handlers.smart import SmartHandlers
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ocpp_compat import answer_of, payload_of, snake
from edge_controller.uplink.rpc import Connection, Handler, HandlersOf, Limits, RpcEndpoint


class EdgeChargePoint(
    RemoteHandlers,
    ConfigHandlers,
    SmartHandlers,
    LocalListHandlers,
    ReservationHandlers,
    SecurityHandlers16,
):
    def __init__(self, link: IdentityLink, connection: Connection) -> None:
        self.link = link
        limits = Limits(link.settings.call_timeout_s, link.settings.max_frame_bytes)
        self.rpc = RpcEndpoint(
            connection, _PayloadHandlers(self), limits, link.release_staged, link.config
        )
        if self.rpc.dialect is not OCPP16:  # only 1.6 is offered in the handshake so far
            raise UnknownSubprotocol(f"no 1.6 connection: {connection.subprotocol!r}")

    async def call(self, request: Any) -> Any:
        """Send one of the library's request objects; its answer object (raises as
        ``RpcEndpoint.exchange``)."""
        action = type(request).__name__
        return answer_of(action, await self.rpc.call(action, payload_of(request)))


class _PayloadHandlers(Mapping[str, Handler]):
    """The charge point's handlers as the endpoint calls them, each made when its CALL comes:
    every connection shares its class's table (``HandlersOf``)."""

    def __init__(self, charge_point: EdgeChargePoint) -> None:
        self._methods = HandlersOf(charge_point)

    def __getitem__(self, action: str) -> Handler:
        return _payload_handler(self._methods[action])

    def __iter__(self) -> Iterator[str]:
        return iter(self._methods)

    def __len__(self) -> int:
        return len(self._methods)


def _payload_handler(method: Callable[..., Any]) -> Handler:
    async def handle(payload: dict[str, Any]) -> dict[str, Any]:
        answer = method(**snake(payload))
        if inspect.isawaitable(answer):
            answer = await answer
        return payload_of(answer)

    return handle
