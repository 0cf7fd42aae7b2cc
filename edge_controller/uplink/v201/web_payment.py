"""OCPP 2.1 web payment: NotifyWebPaymentStarted holds the EVSE for the driver who scanned its
QR code and pays on the web, until the CSMS's RequestStartTransaction for it or the timeout.

The hold is a reservation of the session side (so a card tap there is refused meanwhile and the
connector reports Reserved), with an id of its own (``domain.web_payment.hold_id``); the
start for the EVSE lifts it first. The session side drops it at its end: the timeout frees the
connector.
"""

from __future__ import annotations

from typing import Any

from edge_controller.domain.commands import CancelReservation, Origin, Reserve
from edge_controller.domain.web_payment import PaymentHold, hold_id
from edge_controller.log import get_logger
from edge_controller.uplink.link import IdentityCore
from edge_controller.uplink.ports import CommandSink, DisplayBoard
from edge_controller.uplink.rpc import on
from edge_controller.uplink.topology import UnknownConnector

HOLDER = "WEBPAYMENT"  # the hold's id tag: no card or token of a driver is ever this


class WebPayments201:
    def __init__(
        self, core: IdentityCore, commands: CommandSink, board: DisplayBoard | None,
        longest_s: float,
    ) -> None:  # fmt: skip
        """``longest_s``: the longest hold, whatever timeout the CSMS gives."""
        self.core, self._commands, self._board, self._longest_s = core, commands, board, longest_s
        self._log = get_logger("uplink", identity=core.identity)

    @on("NotifyWebPaymentStarted")
    async def on_started(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse_id, timeout_s = int(payload["evseId"]), float(payload["timeout"])
        try:
            connector_id = self.core.topology.connector_id(self.core.identity, evse_id)
        except UnknownConnector:
            self._log.warning("web payment for no EVSE here", evse_id=evse_id)
            return {}
        until_s = self.core.now_s() + min(max(timeout_s, 1.0), self._longest_s)
        hold = PaymentHold(connector_id, hold_id(connector_id), until_s)
        reserve = Reserve(connector_id, hold.reservation_id, HOLDER, until_s, origin=Origin.CSMS)
        result = await self._commands.decide(reserve)
        # The answer has no status: a connector that cannot be held is only logged.
        self._log.info("web payment started", connector_id=connector_id,
                           timeout_s=timeout_s, held=result.ok, reason=result.error)  # fmt: skip
        if result.ok and self._board is not None:
            self._board.hold(hold)
        return {}

    async def release(self, connector_id: str) -> None:
        """Lift the connector's hold, if it has one (the CSMS's start for it is coming)."""
        wanted = hold_id(connector_id)
        if wanted in self.core.status.reservation_ids():
            await self._commands.decide(CancelReservation(wanted, Origin.CSMS))
