"""OCPP 2.1 web payment: NotifyWebPaymentStarted holds the EVSE for the driver who scanned its
QR code and pays on the web, until the CSMS's RequestStartTransaction for it or the timeout.

The hold is a reservation of the session side (so a card tap there is refused meanwhile and the
connector reports Reserved), with an id of its own (``domain.web_payment.hold_id``); the
start for the EVSE lifts it first. The session side drops it at its end: the timeout frees the
connector. The hold's details are kept in the identity's state file, so after a restart the
connector still says "web payment in progress" (the reservation itself the session side keeps).
"""

from __future__ import annotations

from typing import Any

from edge_controller.domain.commands import CancelReservation, Origin, Reserve
from edge_controller.domain.web_payment import PaymentHold, hold_id
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
        self._log = core.log
        self._holds = self._kept()
        for hold in self._holds.values():
            if board is not None:
                board.hold(hold)

    def _kept(self) -> dict[str, PaymentHold]:
        """The holds the last run kept that are not over yet."""
        now_s, found = self.core.now_s(), {}
        for raw in self.core.config.web_payment_holds():
            try:
                hold = PaymentHold(str(raw["connector_id"]), int(raw["reservation_id"]),
                                   float(raw["until_s"]))  # fmt: skip
            except (KeyError, TypeError, ValueError):
                self._log.warning("kept web payment hold unreadable", hold=str(raw)[:200])
                continue
            if hold.until_s > now_s:
                found[hold.connector_id] = hold
        return found

    def _keep(self) -> None:
        now_s = self.core.now_s()
        self._holds = {c: h for c, h in self._holds.items() if h.until_s > now_s}
        self.core.config.set_web_payment_holds(
            [{"connector_id": h.connector_id, "reservation_id": h.reservation_id,
              "until_s": h.until_s} for h in self._holds.values()]
        )  # fmt: skip

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
        if result.ok:
            self._holds[connector_id] = hold
            self._keep()
            if self._board is not None:
                self._board.hold(hold)
        return {}

    async def release(self, connector_id: str) -> None:
        """Lift the connector's hold, if it has one (the CSMS's start for it is coming)."""
        wanted = hold_id(connector_id)
        if wanted in self.core.status.reservation_ids():
            await self._commands.decide(CancelReservation(wanted, Origin.CSMS))
        if self._holds.pop(connector_id, None) is not None:
            self._keep()
