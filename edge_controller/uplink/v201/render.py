"""Outbox events as OCPP 2.0.1/2.1 TransactionEvent requests. Pure.

The station names its transactions: ``transactionId`` is the session's local id and the
number kept as its remote id once the CSMS took the Started event (the start in whole
milliseconds, see ``Ocpp201Rendering.start_confirmed``), so a new database counting sessions
from 1 again names none twice. ``seqNo`` is the event's place among its session's events, so a
resent event carries the same number and none is skipped. ``offline`` marks what happened
while no connection was up (``online``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from edge_controller.domain.commands import SetTransactionLimit, StopReason, TransactionLimit
from edge_controller.domain.monitoring import MonitorTriggered
from edge_controller.domain.payments import PaymentTokenIssued, SettlementRecorded
from edge_controller.domain.pricing.central import CentralCost
from edge_controller.domain.problems import ProblemHandled, ProblemReported
from edge_controller.domain.security import SecurityEventRaised
from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    EvConnected,
    EvWaitEnded,
    MeterSampled,
    Quantity,
    Reading,
    ReadingContext,
    SessionEnded,
    SessionStarted,
    TokenType,
)
from edge_controller.log import get_logger
from edge_controller.uplink.outbox.rendering import NotSendable, StartConfirmed
from edge_controller.uplink.ports import QueuedMessage
from edge_controller.uplink.topology import UnknownConnector

# The measurand, context and location words are the same in 1.6 and 2.x: one table each.
from edge_controller.uplink.v16.render import (
    CONTEXTS,
    DATA_TRANSFER,
    LOCATIONS,
    MEASURANDS,
    Connection,
    final_cost,
    payment_token,
    security_event,
)
from edge_controller.uplink.v201.monitoring import (
    monitor_event,
    problem_event,
    problem_handled_event,
)
from edge_controller.uplink.v201.tariff_wire import central_cost, cost_details

log = get_logger("uplink.v201")
TRANSACTION_EVENT = "TransactionEvent"
NOTIFY_EVENT = "NotifyEvent"
SECURITY_EVENT = "SecurityEventNotification"
NOTIFY_SETTLEMENT = "NotifySettlement"
CostSink = Callable[[int, CentralCost], Awaitable[bool]]
LimitSink = Callable[[SetTransactionLimit], bool]
_TOKEN_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")

TOKEN_TYPES = {
    TokenType.CARD: "ISO14443",
    TokenType.CENTRAL: "Central",
    TokenType.LOCAL: "Local",
    TokenType.FREE_VEND: "NoAuthorization",
    TokenType.KEY_CODE: "KeyCode",
    TokenType.DIRECT_PAYMENT: "DirectPayment",
}
# 2.1 widened IdTokenEnumType to a string with DirectPayment (a payment card authorised at a
# terminal); 2.0.1's enumeration has no such value, so a card paid session there stays Local.
TOKEN_TYPES_201 = TOKEN_TYPES | {TokenType.DIRECT_PAYMENT: "Local"}
SAMPLE_TRIGGERS = {
    ReadingContext.CLOCK_ALIGNED: "MeterValueClock",
    ReadingContext.TRIGGER: "Trigger",
    ReadingContext.LIMIT_SET: "LimitSet",
    ReadingContext.TARIFF_CHANGED: "TariffChanged",
}
# stoppedReason and triggerReason of each way a session ends
STOPS: dict[StopReason, tuple[str, str]] = {
    StopReason.LOCAL: ("Local", "StopAuthorized"),
    StopReason.REMOTE: ("Remote", "RemoteStop"),
    StopReason.EV_DISCONNECTED: ("EVDisconnected", "EVCommunicationLost"),
    StopReason.EMERGENCY_STOP: ("EmergencyStop", "AbnormalCondition"),
    StopReason.OTHER: ("Other", "AbnormalCondition"),
    StopReason.DEAUTHORIZED: ("DeAuthorized", "Deauthorized"),
    StopReason.REBOOT: ("Reboot", "ResetCommand"),
    StopReason.POWER_LOSS: ("PowerLoss", "AbnormalCondition"),
    StopReason.HARD_RESET: ("ImmediateReset", "ResetCommand"),
    StopReason.SOFT_RESET: ("Reboot", "ResetCommand"),
    StopReason.COST_LIMIT: ("LocalOutOfCredit", "CostLimitReached"),
    StopReason.ENERGY_LIMIT: ("EnergyLimitReached", "EnergyLimitReached"),
    StopReason.TIME_LIMIT: ("TimeLimitReached", "TimeLimitReached"),
    StopReason.MASTER_PASS: ("MasterPass", "StopAuthorized"),
    StopReason.TIMEOUT: ("Timeout", "EVConnectTimeout"),
    StopReason.STOPPED_BY_EV: ("StoppedByEV", "ChargingStateChanged"),
}
# Trigger reasons 2.0.1 lacks (added in 2.1), and what a 2.0.1 connection is sent instead.
TRIGGERS_201 = {
    "CostLimitReached": "StopAuthorized",
    "LimitSet": "Trigger",
    "TariffChanged": "Trigger",
}


@dataclass(frozen=True, slots=True)
class Link201:
    """What the connection adds: connector numbers, repaired times, and whether the identity
    was offline at a time (``OnlinePeriods.offline``)."""

    connection: Connection
    offline: Callable[[float], bool]
    v21: bool = True  # False on a 2.0.1 connection: only its words


def transaction_id(session_local_id: int, remote_id: int) -> str:
    return f"{session_local_id}-{remote_id}"


def session_of(transaction_id_text: str) -> int | None:
    """The local session id in a transactionId this station made (None: not one of ours)."""
    head, _, tail = transaction_id_text.partition("-")
    return int(head) if head.isdigit() and tail.isdigit() else None


class Ocpp201Rendering:
    """The outbox sender's ``Rendering`` on an OCPP 2.0.1 or 2.1 connection."""

    # The transactionId is the station's: a Started sent again after a power loss is the same
    # transaction, as any other message repeated then.
    start_answer_power_safe = False

    def __init__(
        self, link: Link201, costs: CostSink | None = None, limits: LimitSink | None = None
    ) -> None:
        """``costs``: where the CSMS's cost of a session (``totalCost``) goes to be shown;
        ``limits``: where its 2.1 transactionLimit goes (the command port's ``submit``)."""
        self._link, self._costs, self._limits = link, costs, limits

    def request(self, message: QueuedMessage) -> tuple[str, dict[str, Any]]:
        if message.event is None:
            raise NotSendable(message.unreadable or "the stored event cannot be read")
        event = message.event
        if isinstance(event, ProblemReported):  # a hard-wired Problem notification
            evse = self._link.connection.place(event.connector_id)
            return NOTIFY_EVENT, problem_event(event, evse, self._link.connection.time(event.at_s))
        if isinstance(event, ProblemHandled):
            evse = self._link.connection.place(event.connector_id)
            at_iso = self._link.connection.time(event.at_s)
            return NOTIFY_EVENT, problem_handled_event(event, message.seq, evse, at_iso)
        if isinstance(event, SecurityEventRaised):
            return SECURITY_EVENT, security_event(event, self._link.connection)
        if isinstance(event, MonitorTriggered):
            evse = self._link.connection.connector(event.connector_id)
            at_iso = self._link.connection.time(event.at_s)
            return NOTIFY_EVENT, monitor_event(event, evse, at_iso, message.seq)
        if isinstance(event, SettlementRecorded):
            return settlement(message, event, self._link)
        if isinstance(event, PaymentTokenIssued):  # queued for a 1.6 CSMS, the link now on 2.x
            return DATA_TRANSFER, payment_token(event, self._link.connection)
        return TRANSACTION_EVENT, request(message, event, self._link)

    def starts_transaction(self, message: QueuedMessage) -> bool:
        return starts_transaction(message)

    def start_confirmed(self, message: QueuedMessage, answer: dict[str, Any]) -> StartConfirmed:
        event = message.event
        assert isinstance(event, SessionStarted | EvConnected | AuthorizedFirst)
        return StartConfirmed(
            round(event.at_s * 1000), self.token_status(message, answer) or "Accepted"
        )

    def token_status(self, message: QueuedMessage, answer: dict[str, Any]) -> str | None:
        """A TransactionEventResponse's idTokenInfo status (Started or Updated: the CSMS may
        withdraw a running session's authorisation in any answer; StopTxOnInvalidId decides)."""
        info = answer.get("idTokenInfo")
        if not isinstance(info, dict) or isinstance(message.event, SessionEnded | EvWaitEnded):
            return None
        if isinstance(message.event, EvConnected):
            return None  # a start without an idToken: there is no token to refuse
        status = str(info.get("status", "Accepted"))
        # The 2.x statuses 1.6 lacks refuse the token alike.
        return status if status in _TOKEN_STATUSES else "Invalid"

    async def answered(self, message: QueuedMessage, answer: dict[str, Any]) -> None:
        """A ``totalCost`` (the CSMS's cost, final with the Ended event) is shown as sent; a
        2.1 ``transactionLimit`` of a running session becomes a command."""
        local_id = message.session_local_id
        self._take_limit(message, answer)
        if "totalCost" not in answer or local_id is None or self._costs is None:
            return
        found = central_cost(answer["totalCost"], _final(message))
        if found is None:
            return
        try:
            await self._costs(local_id, found)
        except Exception:  # showing a cost must never stop what the outbox delivers
            log.exception("CSMS cost not shown", session=local_id, total_cost=str(found.cost))

    def _take_limit(self, message: QueuedMessage, answer: dict[str, Any]) -> None:
        local_id, wire = message.session_local_id, answer.get("transactionLimit")
        if local_id is None or self._limits is None or not self._link.v21:
            return
        if not isinstance(wire, dict) or isinstance(message.event, SessionEnded):
            return
        limit = transaction_limit(wire)
        if limit is None or limit == message.session_limit:
            return  # nothing to take, or the limit the session already has
        if not self._limits(SetTransactionLimit(local_id, limit)):
            log.warning("transaction limit not taken (command queue full)", session=local_id)


def _final(message: QueuedMessage) -> bool:
    """Whether the answer to ``message`` carries its transaction's final cost (its Ended)."""
    event = message.event
    if isinstance(event, SessionEnded):
        return not event.transaction_goes_on
    return isinstance(event, EvWaitEnded) and event.session is not None


def transaction_limit(wire: dict[str, Any]) -> TransactionLimit | None:
    """A 2.1 TransactionLimitType as the domain's (None: it limits nothing)."""
    found = TransactionLimit(
        max_cost=None if wire.get("maxCost") is None else Decimal(str(wire["maxCost"])),
        max_energy_wh=None if wire.get("maxEnergy") is None else Decimal(str(wire["maxEnergy"])),
        max_time_s=None if wire.get("maxTime") is None else int(wire["maxTime"]),
        max_soc_pct=None if wire.get("maxSoC") is None else int(wire["maxSoC"]),
    )
    return None if found == TransactionLimit() else found


def limit_wire(limit: TransactionLimit) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    if limit.max_cost is not None:
        wire["maxCost"] = limit.max_cost
    if limit.max_energy_wh is not None:
        wire["maxEnergy"] = limit.max_energy_wh
    if limit.max_time_s is not None:
        wire["maxTime"] = limit.max_time_s
    if limit.max_soc_pct is not None:
        wire["maxSoC"] = limit.max_soc_pct
    return wire


def settlement(
    message: QueuedMessage, event: SettlementRecorded, link: Link201
) -> tuple[str, dict[str, Any]]:
    """2.1: NotifySettlement; 2.0.1 has none, so the costmsg FinalCost in a DataTransfer."""
    if message.remote_transaction_id is None:
        raise NotSendable("the session's Started event was never taken by the CSMS")
    tx_id = transaction_id(event.session_local_id, message.remote_transaction_id)
    if not link.v21:
        return DATA_TRANSFER, final_cost(event, tx_id)
    payload: dict[str, Any] = {
        "transactionId": tx_id,
        "pspRef": event.psp_reference,
        "status": event.status.value,
        "settlementAmount": event.amount.amount,
        "settlementTime": link.connection.time(event.at_s),
        "receiptId": event.receipt_id,
    }
    if event.status_info:
        payload["statusInfo"] = event.status_info[:500]
    return NOTIFY_SETTLEMENT, payload


def starts_transaction(message: QueuedMessage) -> bool:
    """A session's start, or a plug-in's, that no event of the same transaction came before
    (a session that joined a plug-in's transaction goes on with it)."""
    started = isinstance(message.event, SessionStarted | EvConnected | AuthorizedFirst)
    return started and message.session_position == 0


TransactionFact = (
    SessionStarted | MeterSampled | SessionEnded | EvConnected | AuthorizedFirst | EvWaitEnded
)


def request(message: QueuedMessage, event: TransactionFact, link: Link201) -> dict[str, Any]:
    """The TransactionEvent payload of ``event``; raises ``NotSendable``."""
    local_id = event.session_local_id
    if local_id is None or message.session_position is None:
        raise NotSendable("a sample outside a session has no TransactionEvent")
    if starts_transaction(message):
        remote = round(event.at_s * 1000)
    elif message.remote_transaction_id is None:
        raise NotSendable("the session's Started event was never taken by the CSMS")
    else:
        remote = message.remote_transaction_id
    info: dict[str, Any] = {"transactionId": transaction_id(local_id, remote)}
    payload: dict[str, Any] = {
        "eventType": "",
        "timestamp": link.connection.time(event.at_s),
        "triggerReason": "",
        "seqNo": message.session_position,
        "transactionInfo": info,
    }
    if link.offline(event.at_s):
        payload["offline"] = True
    try:
        payload["evse"] = {"id": link.connection.connector(event.connector_id), "connectorId": 1}
    except UnknownConnector:
        if not isinstance(event, EvWaitEnded):
            raise
        # The end of one whose connector left the config: the CSMS knows its EVSE already.
    if isinstance(event, EvConnected | EvWaitEnded):
        _plugged(event, payload, link)
        billed = isinstance(event, EvWaitEnded) and event.session is not None
        if billed and link.v21 and message.session_cost is not None:
            _cost_details(payload, message.session_cost)  # the cost of its session
    elif isinstance(event, AuthorizedFirst):
        _authorized_first(event, payload, link)
    elif isinstance(event, SessionStarted) and not starts_transaction(message):
        _authorized(event, payload, link)
    elif isinstance(event, SessionStarted):
        _started(event, payload, link)
    elif isinstance(event, MeterSampled):
        _updated(event, payload, link)
    else:
        (_session_ended if event.transaction_goes_on else _ended)(event, payload, link)
        if link.v21 and message.session_cost is not None:
            _cost_details(payload, message.session_cost)
    if link.v21 and message.session_limit is not None and not isinstance(event, SessionStarted):
        info["transactionLimit"] = limit_wire(message.session_limit)
    if link.v21 and message.session_tariff_id is not None:
        info["tariffId"] = message.session_tariff_id[:60]  # the tariff in use (2.1 only)
    return payload


def _cost_details(payload: dict[str, Any], breakdown: dict[str, Any]) -> None:
    """2.1 local cost calculation: the running cost kept with a sample, or the final cost as
    priced at the stop (a stored cost this cannot read: the event goes without it)."""
    with contextlib.suppress(KeyError, TypeError, ValueError, ArithmeticError):
        payload["costDetails"] = cost_details(breakdown)


def _started(event: SessionStarted, payload: dict[str, Any], link: Link201) -> None:
    payload["eventType"] = "Started"
    # A CSMS start: a Central token, or another type it gave (KeyCode) with its start's id.
    remote = event.id_token.type is TokenType.CENTRAL or event.remote_start_id is not None
    free = event.id_token.type is TokenType.FREE_VEND
    payload["triggerReason"] = "RemoteStart" if remote else "Authorized"
    if free:
        payload["triggerReason"] = "CablePluggedIn"
    payload["transactionInfo"]["chargingState"] = "EVConnected"
    if remote and event.remote_start_id is not None:
        payload["transactionInfo"]["remoteStartId"] = event.remote_start_id
    payload["idToken"] = id_token(event.id_token.value, event.id_token.type, v21=link.v21)
    if event.reservation_id is not None:
        payload["reservationId"] = event.reservation_id
    payload["meterValue"] = [
        _meter_value(event.at_s, [_register(event.start_register_wh, ReadingContext.BEGIN)],
                     link.connection)
    ]  # fmt: skip


def _plugged(event: EvConnected | EvWaitEnded, payload: dict[str, Any], link: Link201) -> None:
    """The start of a transaction at a plug-in (no idToken yet), or its end without a
    session: unauthorised, no meter values, as no energy may flow before the authorisation;
    after its session (2.0.1 E06, TxStopPoint EVConnected or Authorized alone), with that
    session's registers."""
    info = payload["transactionInfo"]
    if isinstance(event, EvConnected):
        payload["eventType"], payload["triggerReason"] = "Started", "CablePluggedIn"
        info["chargingState"] = "EVConnected"
        return
    stopped, trigger = STOPS[event.reason]
    payload["eventType"] = "Ended"
    payload["triggerReason"] = trigger if link.v21 else TRIGGERS_201.get(trigger, trigger)
    info["chargingState"] = "Idle" if event.reason is StopReason.EV_DISCONNECTED else "EVConnected"
    info["stoppedReason"] = stopped
    if event.id_token is not None:
        payload["idToken"] = id_token(event.id_token.value, event.id_token.type, v21=link.v21)
    session = event.session
    if session is not None:  # after its session: the energy is that session's, as billed
        end = [_register(session.stop_wh, ReadingContext.END)]
        payload["meterValue"] = [_meter_value(session.stopped_at_s, end, link.connection)]
        if session.with_begin:
            begin = [_register(session.start_wh, ReadingContext.BEGIN)]
            payload["meterValue"].insert(0, _meter_value(session.started_at_s, begin,
                                                         link.connection))  # fmt: skip


def _session_ended(event: SessionEnded, payload: dict[str, Any], link: Link201) -> None:
    """A session ended, its transaction goes on (TxStopPoint EVConnected or Authorized
    alone, 2.0.1 E06): charging stops with the session's authorisation or its limit; the
    registers go with the transaction's end."""
    payload["eventType"] = "Updated"
    trigger = STOPS[event.reason][1]
    payload["triggerReason"] = trigger if link.v21 else TRIGGERS_201.get(trigger, trigger)
    payload["transactionInfo"]["chargingState"] = "EVConnected"
    if event.id_token is not None:
        payload["idToken"] = id_token(event.id_token.value, event.id_token.type, v21=link.v21)


def _authorized_first(event: AuthorizedFirst, payload: dict[str, Any], link: Link201) -> None:
    """A transaction begun at the authorisation, no EV plugged in yet (2.0.1 E03)."""
    payload["eventType"] = "Started"
    remote = event.id_token.type is TokenType.CENTRAL or event.remote_start_id is not None
    payload["triggerReason"] = "RemoteStart" if remote else "Authorized"
    payload["transactionInfo"]["chargingState"] = "Idle"
    if remote and event.remote_start_id is not None:
        payload["transactionInfo"]["remoteStartId"] = event.remote_start_id
    payload["idToken"] = id_token(event.id_token.value, event.id_token.type, v21=link.v21)


def _authorized(event: SessionStarted, payload: dict[str, Any], link: Link201) -> None:
    """A session joined the transaction begun before it: at its EV's plug-in (2.0.1 E02), so
    the idToken now, or at its authorisation (E03), so the plug-in; with the register the
    session's energy counts from (Transaction.Begin), charging allowed from here."""
    payload["eventType"] = "Updated"
    payload["transactionInfo"]["chargingState"] = "EVConnected"
    if event.plugged_in_last:
        payload["triggerReason"] = "CablePluggedIn"
    else:
        remote = event.id_token.type is TokenType.CENTRAL or event.remote_start_id is not None
        payload["triggerReason"] = "RemoteStart" if remote else "Authorized"
        if remote and event.remote_start_id is not None:
            payload["transactionInfo"]["remoteStartId"] = event.remote_start_id
        payload["idToken"] = id_token(event.id_token.value, event.id_token.type, v21=link.v21)
    if event.reservation_id is not None:
        payload["reservationId"] = event.reservation_id
    begin = [_register(event.start_register_wh, ReadingContext.BEGIN)]
    payload["meterValue"] = [_meter_value(event.at_s, begin, link.connection)]


def _updated(event: MeterSampled, payload: dict[str, Any], link: Link201) -> None:
    payload["eventType"] = "Updated"
    trigger = SAMPLE_TRIGGERS.get(event.context, "MeterValuePeriodic")
    payload["triggerReason"] = trigger if link.v21 else TRIGGERS_201.get(trigger, trigger)
    if event.phases_used is not None:
        payload["numberOfPhasesUsed"] = event.phases_used
    power = next((r for r in event.readings if r.quantity is Quantity.POWER_IMPORT_W), None)
    if power is not None and not event.outside_session:  # else no state it could tell
        state = "Charging" if power.value > 0 else "SuspendedEV"
        payload["transactionInfo"]["chargingState"] = state
    values = [sampled_value(reading, event.context) for reading in event.readings]
    if values:
        payload["meterValue"] = [{"timestamp": payload["timestamp"], "sampledValue": values}]
    if link.v21 and event.cost is not None:
        _cost_details(payload, event.cost)  # local cost calculation: the running cost


def _ended(event: SessionEnded, payload: dict[str, Any], link: Link201) -> None:
    payload["eventType"] = "Ended"
    stopped, trigger = STOPS[event.reason]
    if not link.v21:
        trigger = TRIGGERS_201.get(trigger, trigger)
    payload["triggerReason"] = trigger
    info = payload["transactionInfo"]
    info["chargingState"] = "Idle" if event.reason is StopReason.EV_DISCONNECTED else "EVConnected"
    info["stoppedReason"] = stopped
    if event.id_token is not None:
        payload["idToken"] = id_token(event.id_token.value, event.id_token.type, v21=link.v21)
    end = _meter_value(event.at_s, [_register(event.stop_register_wh, ReadingContext.END)],
                       link.connection)  # fmt: skip
    if event.with_registers:
        begin = [_register(event.start_register_wh, ReadingContext.BEGIN)]
        payload["meterValue"] = [_meter_value(event.started_at_s, begin, link.connection), end]
    else:
        payload["meterValue"] = [end]


def id_token(value: str, kind: TokenType, *, v21: bool = True) -> dict[str, str]:
    """An IdTokenType; ``v21`` False: in 2.0.1's words."""
    return {"idToken": value, "type": (TOKEN_TYPES if v21 else TOKEN_TYPES_201)[kind]}


def _register(energy_wh: int, context: ReadingContext) -> dict[str, Any]:
    reading = Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal(energy_wh))
    return sampled_value(reading, context)


def meter_values(evse_id: int, event: MeterSampled, connection: Connection) -> dict[str, Any]:
    """A MeterValuesRequest of one EVSE's readings (not transaction data: sent at once)."""
    values = [sampled_value(reading, event.context) for reading in event.readings]
    return {"evseId": evse_id, "meterValue": [_meter_value(event.at_s, values, connection)]}


def _meter_value(
    at_s: float, values: list[dict[str, Any]], connection: Connection
) -> dict[str, Any]:
    return {"timestamp": connection.time(at_s), "sampledValue": values}


def sampled_value(reading: Reading, context: ReadingContext) -> dict[str, Any]:
    measurand, unit = MEASURANDS[reading.quantity]
    value: dict[str, Any] = {
        "value": reading.value,
        "context": CONTEXTS[context],
        "measurand": measurand,
    }
    if reading.conductor is not None:
        value["phase"] = reading.conductor.value
    if reading.location is not None:
        value["location"] = LOCATIONS[reading.location]
    value["unitOfMeasure"] = {"unit": unit}
    return value
