"""The OCPP 1.6 charge point on one websocket: the CSMS-initiated handlers on an RPC endpoint.

The handlers take the library's snake_case keyword arguments and return its answer objects;
``EdgeChargePoint`` turns them into the endpoint's payload handlers. Handlers never ``await``
an OCPP call (the answer could only be read after their own): work that needs a CALL is
staged as a follow-up and released after the handler's answer was sent.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
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
from edge_controller.uplink.rpc import Connection, Handler, Limits, RpcEndpoint, handlers_of


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
        handlers = {action: _payload_handler(m) for action, m in handlers_of(self).items()}
        self.rpc = RpcEndpoint(connection, handlers, limits, link.release_staged)
        if self.rpc.dialect is not OCPP16:  # only 1.6 is offered in the handshake so far
            raise UnknownSubprotocol(f"no 1.6 connection: {connection.subprotocol!r}")

    async def call(self, request: Any) -> Any:
        """Send one of the library's request objects; its answer object (raises as
        ``RpcEndpoint.exchange``)."""
        action = type(request).__name__
        return answer_of(action, await self.rpc.call(action, payload_of(request)))


def _payload_handler(method: Callable[..., Any]) -> Handler:
    async def handle(payload: dict[str, Any]) -> dict[str, Any]:
        answer = method(**snake(payload))
        if inspect.isawaitable(answer):
            answer = await answer
        return payload_of(answer)

    return handle
