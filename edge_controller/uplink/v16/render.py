"""Outbox events as OCPP 1.6 requests: StartTransaction, MeterValues, StopTransaction, and
SecurityEventNotification of the 1.6 security extension. Pure.

An event carries everything but what only the connection knows: the OCPP connector number of
our ``"<charger>:<n>"`` id (``Topology``), the CSMS's ``transactionId`` of the session and the
repair of times taken before the site's clock was set (``ClockSync``). The same event renders
to the same payload at every attempt, so a resent CALL is byte for byte the one sent before.
Members are written in a fixed order and optional ones left out, as the 1.6 schemas allow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from edge_controller.domain.commands import StopReason
from edge_controller.domain.monitoring import MonitorTriggered
from edge_controller.domain.payments import PaymentTokenIssued, SettlementRecorded
from edge_controller.domain.problems import ProblemHandled, ProblemReported
from edge_controller.domain.security import SecurityEventRaised
from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    Conductor,
    EvConnected,
    EvWaitEnded,
    Location,
    MeterSampled,
    OutboxEvent,
    Quantity,
    Reading,
    ReadingContext,
    SessionEnded,
    SessionStarted,
)
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.outbox.rendering import NothingToSend, NotSendable, StartConfirmed
from edge_controller.uplink.ports import QueuedMessage
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16 import costmsg

START, SAMPLE, STOP = "StartTransaction", "MeterValues", "StopTransaction"
DATA_TRANSFER = "DataTransfer"
SECURITY_EVENT = "SecurityEventNotification"
# A problem report travels as DataTransfer with this vendor id and message id (docs/web.md).
PROBLEM_VENDOR_ID = "edge_controller"
PROBLEM_MESSAGE_ID = "ProblemReport"
PROBLEM_HANDLED_MESSAGE_ID = "ProblemHandled"
PAYMENT_TOKEN_MESSAGE_ID = "PaymentToken"

CONTEXTS = {
    ReadingContext.BEGIN: "Transaction.Begin",
    ReadingContext.END: "Transaction.End",
    ReadingContext.PERIODIC: "Sample.Periodic",
    ReadingContext.CLOCK_ALIGNED: "Sample.Clock",
    ReadingContext.TRIGGER: "Trigger",
    # Readings taken for a change of the session: triggered, as far as the value goes.
    ReadingContext.LIMIT_SET: "Trigger",
    ReadingContext.TARIFF_CHANGED: "Trigger",
}
# measurand and unit of each quantity
MEASURANDS = {
    Quantity.ENERGY_IMPORT_REGISTER_WH: ("Energy.Active.Import.Register", "Wh"),
    Quantity.POWER_IMPORT_W: ("Power.Active.Import", "W"),
    Quantity.CURRENT_IMPORT_A: ("Current.Import", "A"),
    Quantity.VOLTAGE_V: ("Voltage", "V"),
    Quantity.CURRENT_OFFERED_A: ("Current.Offered", "A"),
    Quantity.STATE_OF_CHARGE_PCT: ("SoC", "Percent"),
}
LOCATIONS = {Location.OUTLET: "Outlet", Location.EV: "EV"}
PHASES = {c: c.value for c in Conductor}  # L1, L2-N ...: the 1.6 spelling
# Stop reasons 1.6 has no word for; the others are sent as their value.
STOP_REASONS = {
    StopReason.COST_LIMIT: "Other",
    StopReason.ENERGY_LIMIT: "Other",
    StopReason.TIME_LIMIT: "Other",
    StopReason.MASTER_PASS: "Local",
    StopReason.TIMEOUT: "Other",
    StopReason.STOPPED_BY_EV: "Other",
}


@dataclass(frozen=True, slots=True)
class Connection:
    """What the connection adds to an event: connector numbers, repaired times."""

    topology: Topology
    clock: ClockSync

    def time(self, at_s: float) -> str:
        return self.clock.iso(at_s)

    def connector(self, connector_id: str) -> int:
        return self.topology.locate(connector_id).connector

    def place(self, connector_id: str) -> int | None:
        """Where a problem report was filed: its connector's number, or None for one filed on
        no connector of the site (a gateway fault: the station's own)."""
        if self.topology.route(connector_id) is None:
            return None
        return self.connector(connector_id)


class Ocpp16Rendering:
    """The outbox sender's ``Rendering`` on an OCPP 1.6 connection."""

    start_answer_power_safe = True  # the CSMS's transaction id: asked for again, it differs

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def request(self, message: QueuedMessage) -> tuple[str, dict[str, Any]]:
        if message.event is None:
            raise NotSendable(message.unreadable or "the stored event cannot be read")
        return request(message.event, message.remote_transaction_id, self._connection)

    def starts_transaction(self, message: QueuedMessage) -> bool:
        return isinstance(message.event, SessionStarted)

    def start_confirmed(self, message: QueuedMessage, answer: dict[str, Any]) -> StartConfirmed:
        return StartConfirmed(
            int(answer["transactionId"]), str(answer["idTagInfo"].get("status", "Invalid"))
        )

    def token_status(self, message: QueuedMessage, answer: dict[str, Any]) -> str | None:
        """1.6 answers a running session's MeterValues without a token status."""
        return None

    async def answered(self, message: QueuedMessage, answer: dict[str, Any]) -> None:
        """A 1.6 answer says nothing more (costs come by the costmsg DataTransfer)."""


def request(
    event: OutboxEvent, remote_transaction_id: int | None, connection: Connection
) -> tuple[str, dict[str, Any]]:
    """(action, payload) of ``event``; raises ``NotSendable``."""
    if isinstance(event, ProblemReported):
        return DATA_TRANSFER, problem_report(event, connection)
    if isinstance(event, ProblemHandled):
        return DATA_TRANSFER, problem_handled(event, connection)
    if isinstance(event, SecurityEventRaised):
        return SECURITY_EVENT, security_event(event, connection)
    if isinstance(event, PaymentTokenIssued):
        return DATA_TRANSFER, payment_token(event, connection)
    if isinstance(event, SettlementRecorded):
        if remote_transaction_id is None:
            raise NotSendable("the session's StartTransaction was never confirmed by the CSMS")
        return DATA_TRANSFER, final_cost(event, remote_transaction_id)
    if isinstance(event, MonitorTriggered):  # a 2.x CSMS's monitor, the link now on 1.6
        raise NotSendable("a monitored change is told by NotifyEvent, on OCPP 2.x only")
    if isinstance(event, EvConnected | AuthorizedFirst | EvWaitEnded):
        # A 2.x CSMS's TxStartPoint, the link now on 1.6: its transaction is the session's.
        raise NothingToSend("1.6 starts a transaction at the authorisation")
    if isinstance(event, SessionStarted):
        return START, _start(event, connection)
    if event.session_local_id is not None and remote_transaction_id is None:
        raise NotSendable("the session's StartTransaction was never confirmed by the CSMS")
    if isinstance(event, MeterSampled):
        payload = meter_values(event, connection.connector(event.connector_id), connection)
        if remote_transaction_id is not None:
            payload["transactionId"] = remote_transaction_id
        return SAMPLE, payload
    return STOP, _stop(event, remote_transaction_id, connection)


def security_event(event: SecurityEventRaised, connection: Connection) -> dict[str, Any]:
    """The same payload in the 1.6 security extension and in 2.x; no empty ``techInfo``."""
    payload = {"type": event.kind.value, "timestamp": connection.time(event.at_s)}
    if event.tech_info:
        payload["techInfo"] = event.tech_info
    return payload


def final_cost(event: SettlementRecorded, transaction_id: int | str) -> dict[str, Any]:
    """A paid session's settlement as the costmsg FinalCost: the amount booked on the card."""
    data = {
        "transactionId": transaction_id,
        "cost": float(event.amount.amount),
        "priceText": settlement_text(event),
    }
    return {
        "vendorId": costmsg.VENDOR_ID,
        "messageId": "FinalCost",
        "data": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
    }


def settlement_text(event: SettlementRecorded) -> str:
    """The settlement in words: amount, status, payment and receipt."""
    text = f"{event.amount} {event.status.value.lower()}, card payment {event.psp_reference}"
    text += f", receipt {event.receipt_id}"
    return text + (f" ({event.status_info})" if event.status_info else "")


def problem_report(event: ProblemReported, connection: Connection) -> dict[str, Any]:
    """A driver's problem report: ``data`` is a JSON object (text, as 1.6 wants it)."""
    data = {
        "reference": event.reference,
        "connectorId": connection.place(event.connector_id) or 0,
        "kind": event.kind.value,
        "text": event.text,
        "source": event.source,
        "timestamp": connection.time(event.at_s),
    }
    return {
        "vendorId": PROBLEM_VENDOR_ID,
        "messageId": PROBLEM_MESSAGE_ID,
        "data": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
    }


def payment_token(event: PaymentTokenIssued, connection: Connection) -> dict[str, Any]:
    """A card payment's token, told before the StartTransaction that names it: ``data`` is a
    JSON object (text) with the idTag, the connector and the amount pre-authorised."""
    data = {
        "idTag": event.token,
        "connectorId": connection.connector(event.connector_id),
        "amount": str(event.amount.amount),
        "currency": event.amount.currency.code,
        "timestamp": connection.time(event.at_s),
    }
    return {
        "vendorId": PROBLEM_VENDOR_ID,
        "messageId": PAYMENT_TOKEN_MESSAGE_ID,
        "data": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
    }


def problem_handled(event: ProblemHandled, connection: Connection) -> dict[str, Any]:
    """A report acknowledged, resolved or noted on: ``data`` is a JSON object (text) naming the
    report."""
    data = {
        "reference": event.reference,
        "connectorId": connection.place(event.connector_id) or 0,
        "action": event.done,
        "state": event.state.value,
        "by": event.by,
        "note": event.note,
        "timestamp": connection.time(event.at_s),
    }
    return {
        "vendorId": PROBLEM_VENDOR_ID,
        "messageId": PROBLEM_HANDLED_MESSAGE_ID,
        "data": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
    }


def _start(event: SessionStarted, connection: Connection) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connection.connector(event.connector_id),
        "idTag": event.id_token.value,
        "meterStart": event.start_register_wh,
        "timestamp": connection.time(event.at_s),
    }
    if event.reservation_id is not None:
        payload["reservationId"] = event.reservation_id
    return payload


def _stop(
    event: SessionEnded, remote_transaction_id: int | None, connection: Connection
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "meterStop": event.stop_register_wh,
        "timestamp": connection.time(event.at_s),
        "reason": STOP_REASONS.get(event.reason, event.reason.value),
    }
    if event.id_token is not None:
        payload["idTag"] = event.id_token.value
    if event.with_registers:
        payload["transactionData"] = [
            _register(event.started_at_s, event.start_register_wh, ReadingContext.BEGIN,
                      connection),
            _register(event.at_s, event.stop_register_wh, ReadingContext.END, connection),
        ]  # fmt: skip
    if remote_transaction_id is not None:
        payload["transactionId"] = remote_transaction_id
    return payload


def _register(
    at_s: float, energy_wh: int, context: ReadingContext, connection: Connection
) -> dict[str, Any]:
    reading = Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal(energy_wh))
    return {"timestamp": connection.time(at_s), "sampledValue": [sampled_value(reading, context)]}


def meter_values(event: MeterSampled, connector: int, connection: Connection) -> dict[str, Any]:
    """The MeterValues payload of a sample for OCPP connector ``connector``, without a
    transaction id."""
    values = [sampled_value(reading, event.context) for reading in event.readings]
    return {
        "connectorId": connector,
        "meterValue": [{"timestamp": connection.time(event.at_s), "sampledValue": values}],
    }


def sampled_value(reading: Reading, context: ReadingContext) -> dict[str, Any]:
    measurand, unit = MEASURANDS[reading.quantity]
    value: dict[str, Any] = {
        "value": str(reading.value),
        "context": CONTEXTS[context],
        "measurand": measurand,
        "unit": unit,
    }
    if reading.conductor is not None:
        value["phase"] = PHASES[reading.conductor]
    if reading.location is not None:
        value["location"] = LOCATIONS[reading.location]
    return value
