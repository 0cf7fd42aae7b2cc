"""The stored form of outbox events: our own JSON, versioned, never a protocol message.

A row's ``event`` column names the event type and its ``body`` holds the event as JSON with the
format version under ``"v"`` (``FORMAT``). Every field is written, ``null`` where absent, names
carry their units, times are UTC seconds since the epoch (a JSON number that reads back as the
same float), reading values are decimal strings that keep their digits (``"7.0"`` stays
``"7.0"``). The format is described in ``storage/README.md``; a change that old bodies do not
satisfy is a new version, and ``decode`` goes on reading every earlier one.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from edge_controller.domain.commands import StopReason
from edge_controller.domain.monitoring import MonitorTriggered
from edge_controller.domain.payments import (
    PaymentTokenIssued,
    SettlementRecorded,
    SettlementStatus,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.problems import (
    ProblemHandled,
    ProblemKind,
    ProblemReported,
    ProblemState,
)
from edge_controller.domain.security import SecurityEventKind, SecurityEventRaised
from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    Conductor,
    EvConnected,
    EvWaitEnded,
    IdToken,
    Location,
    MeterSampled,
    OutboxEvent,
    Quantity,
    Reading,
    ReadingContext,
    SessionEnded,
    SessionRegisters,
    SessionStarted,
    TokenType,
)

FORMAT = 1
SESSION_STARTED = "session_started"
METER_SAMPLED = "meter_sampled"
SESSION_ENDED = "session_ended"
PROBLEM_REPORTED = "problem_reported"
PROBLEM_HANDLED = "problem_handled"
SECURITY_EVENT = "security_event"
MONITOR_TRIGGERED = "monitor_triggered"
SETTLEMENT_RECORDED = "settlement_recorded"
PAYMENT_TOKEN = "payment_token"
EV_CONNECTED = "ev_connected"
EV_WAIT_ENDED = "ev_wait_ended"
AUTHORIZED_FIRST = "authorized_first"
# Stop reasons by their stored names (the enum's values are what the sessions table shows).
_REASONS = {reason.name.lower(): reason for reason in StopReason}


class UnreadableEvent(ValueError):
    """A stored body that is not an event of a known type and format."""


def encode(event: OutboxEvent) -> tuple[str, str]:
    """(event type, JSON body) of ``event``."""
    if isinstance(event, SessionStarted):
        kind, body = SESSION_STARTED, _started(event)
    elif isinstance(event, MeterSampled):
        kind, body = METER_SAMPLED, _sampled(event)
    elif isinstance(event, ProblemReported):
        kind, body = PROBLEM_REPORTED, _reported(event)
    elif isinstance(event, ProblemHandled):
        kind, body = PROBLEM_HANDLED, _handled(event)
    elif isinstance(event, SecurityEventRaised):
        kind, body = SECURITY_EVENT, _security(event)
    elif isinstance(event, SettlementRecorded):
        kind, body = SETTLEMENT_RECORDED, _settled(event)
    elif isinstance(event, MonitorTriggered):
        kind, body = MONITOR_TRIGGERED, _monitored(event)
    elif isinstance(event, PaymentTokenIssued):
        kind, body = PAYMENT_TOKEN, _payment_token(event)
    elif isinstance(event, EvConnected | EvWaitEnded):
        kind, body = _plug(event)
    elif isinstance(event, AuthorizedFirst):
        kind, body = AUTHORIZED_FIRST, _authorized_first(event)
    else:
        kind, body = SESSION_ENDED, _ended(event)
    return kind, json.dumps({"v": FORMAT, **body}, separators=(",", ":"), allow_nan=False)


def decode(kind: str, body: str) -> OutboxEvent:
    """The event stored as ``kind`` with ``body``; raises ``UnreadableEvent``."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("v") != FORMAT:
            raise UnreadableEvent(f"{kind} body of an unknown format: {body[:80]}")
        if kind == SESSION_STARTED:
            return _read_started(data)
        if kind == METER_SAMPLED:
            return _read_sampled(data)
        if kind == SESSION_ENDED:
            return _read_ended(data)
        if kind == PROBLEM_REPORTED:
            return _read_reported(data)
        if kind == PROBLEM_HANDLED:
            return _read_handled(data)
        if kind == SECURITY_EVENT:
            return _read_security(data)
        if kind == SETTLEMENT_RECORDED:
            return _read_settled(data)
        if kind == MONITOR_TRIGGERED:
            return _read_monitored(data)
        if kind == PAYMENT_TOKEN:
            return _read_payment_token(data)
        if kind in (EV_CONNECTED, EV_WAIT_ENDED):
            return _read_plug(kind, data)
        if kind == AUTHORIZED_FIRST:
            return _read_authorized_first(data)
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        if isinstance(exc, UnreadableEvent):
            raise
        raise UnreadableEvent(f"{kind} body not readable: {exc!r}") from exc
    raise UnreadableEvent(f"unknown event type {kind!r}")


def _token(token: IdToken | None) -> dict[str, str] | None:
    return None if token is None else {"value": token.value, "type": token.type.value}


def _read_token(data: Any) -> IdToken | None:
    return None if data is None else IdToken(str(data["value"]), TokenType(data["type"]))


def _started(e: SessionStarted) -> dict[str, Any]:
    return {
        "session_local_id": e.session_local_id,
        "connector_id": e.connector_id,
        "at_s": e.at_s,
        "start_register_wh": e.start_register_wh,
        "id_token": _token(e.id_token),
        "reservation_id": e.reservation_id,
        "authorized_offline": e.authorized_offline,
        "remote_start_id": e.remote_start_id,
        "plugged_in_last": e.plugged_in_last,
    }


def _read_started(d: dict[str, Any]) -> SessionStarted:
    token = _read_token(d["id_token"])
    if token is None:
        raise UnreadableEvent("a session start without its id token")
    return SessionStarted(
        session_local_id=int(d["session_local_id"]),
        connector_id=str(d["connector_id"]),
        at_s=float(d["at_s"]),
        start_register_wh=int(d["start_register_wh"]),
        id_token=token,
        reservation_id=_int_or_none(d["reservation_id"]),
        authorized_offline=bool(d["authorized_offline"]),
        remote_start_id=_int_or_none(d.get("remote_start_id")),  # absent in older bodies
        plugged_in_last=bool(d.get("plugged_in_last", False)),  # absent in older bodies
    )


def _digits(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"a reading of {value} is no number")
    return str(value)


def _sampled(e: MeterSampled) -> dict[str, Any]:
    return {
        "session_local_id": e.session_local_id,
        "connector_id": e.connector_id,
        "at_s": e.at_s,
        "context": e.context.value,
        "readings": [
            {
                "quantity": r.quantity.value,
                "value": _digits(r.value),
                "conductor": None if r.conductor is None else r.conductor.value,
                "location": None if r.location is None else r.location.value,
            }
            for r in e.readings
        ],
        "phases_used": e.phases_used,
        **({} if e.cost is None else {"cost": e.cost}),
        **({"outside_session": True} if e.outside_session else {}),
    }


def _read_sampled(d: dict[str, Any]) -> MeterSampled:
    readings = tuple(
        Reading(
            Quantity(r["quantity"]),
            Decimal(r["value"]),
            None if r["conductor"] is None else Conductor(r["conductor"]),
            None if r["location"] is None else Location(r["location"]),
        )
        for r in d["readings"]
    )
    return MeterSampled(
        session_local_id=_int_or_none(d["session_local_id"]),
        connector_id=str(d["connector_id"]),
        at_s=float(d["at_s"]),
        context=ReadingContext(d["context"]),
        readings=readings,
        phases_used=_int_or_none(d.get("phases_used")),  # absent in older bodies
        cost=d["cost"] if isinstance(d.get("cost"), dict) else None,
        outside_session=d.get("outside_session") is True,  # absent in older bodies
    )


def _ended(e: SessionEnded) -> dict[str, Any]:
    return {
        "session_local_id": e.session_local_id,
        "connector_id": e.connector_id,
        "at_s": e.at_s,
        "stop_register_wh": e.stop_register_wh,
        "reason": e.reason.name.lower(),
        "started_at_s": e.started_at_s,
        "start_register_wh": e.start_register_wh,
        "with_registers": e.with_registers,
        "id_token": _token(e.id_token),
    } | ({"goes_on": True} if e.transaction_goes_on else {})  # as before where it ends too


def _read_ended(d: dict[str, Any]) -> SessionEnded:
    return SessionEnded(
        session_local_id=int(d["session_local_id"]),
        connector_id=str(d["connector_id"]),
        at_s=float(d["at_s"]),
        stop_register_wh=int(d["stop_register_wh"]),
        reason=_REASONS[d["reason"]],
        started_at_s=float(d["started_at_s"]),
        start_register_wh=int(d["start_register_wh"]),
        with_registers=bool(d["with_registers"]),
        id_token=_read_token(d["id_token"]),
        transaction_goes_on=bool(d.get("goes_on", False)),  # absent in older bodies
    )


def _reported(e: ProblemReported) -> dict[str, Any]:
    return {
        "reference": e.reference,
        "connector_id": e.connector_id,
        "kind": e.kind.value,
        "text": e.text,
        "source": e.source,
        "at_s": e.at_s,
    }


def _read_reported(d: dict[str, Any]) -> ProblemReported:
    return ProblemReported(
        reference=str(d["reference"]),
        connector_id=str(d["connector_id"]),
        kind=ProblemKind(d["kind"]),
        text=str(d["text"]),
        source=str(d["source"]),
        at_s=float(d["at_s"]),
    )


def _handled(e: ProblemHandled) -> dict[str, Any]:
    return {
        "reference": e.reference,
        "connector_id": e.connector_id,
        "state": e.state.value,
        "by": e.by,
        "note": e.note,
        "at_s": e.at_s,
        "action": e.done,
    }


def _read_handled(d: dict[str, Any]) -> ProblemHandled:
    return ProblemHandled(
        reference=str(d["reference"]),
        connector_id=str(d["connector_id"]),
        state=ProblemState(d["state"]),
        by=str(d["by"]),
        note=str(d["note"]),
        at_s=float(d["at_s"]),
        action=str(d.get("action") or d["state"]),  # written since notes are kept
    )


def _security(e: SecurityEventRaised) -> dict[str, Any]:
    return {"kind": e.kind.value, "at_s": e.at_s, "tech_info": e.tech_info}


def _read_security(d: dict[str, Any]) -> SecurityEventRaised:
    return SecurityEventRaised(SecurityEventKind(d["kind"]), float(d["at_s"]), str(d["tech_info"]))


def _monitored(e: MonitorTriggered) -> dict[str, Any]:
    return {"monitor_id": e.monitor_id, "connector_id": e.connector_id, "variable": e.variable,
            "value": e.value, "at_s": e.at_s}  # fmt: skip


def _read_monitored(d: dict[str, Any]) -> MonitorTriggered:
    return MonitorTriggered(int(d["monitor_id"]), str(d["connector_id"]), str(d["variable"]),
                            str(d["value"]), float(d["at_s"]))  # fmt: skip


def _settled(e: SettlementRecorded) -> dict[str, Any]:
    return {
        "session_local_id": e.session_local_id,
        "connector_id": e.connector_id,
        "psp_reference": e.psp_reference,
        "status": e.status.value,
        "currency": e.amount.currency.code,
        "amount_minor": e.amount.minor,
        "at_s": e.at_s,
        "receipt_id": e.receipt_id,
        "status_info": e.status_info,
    }


def _read_settled(d: dict[str, Any]) -> SettlementRecorded:
    return SettlementRecorded(
        session_local_id=int(d["session_local_id"]),
        connector_id=str(d["connector_id"]),
        psp_reference=str(d["psp_reference"]),
        status=SettlementStatus(d["status"]),
        amount=Money.of_minor(int(d["amount_minor"]), Currency.of(str(d["currency"]))),
        at_s=float(d["at_s"]),
        receipt_id=str(d["receipt_id"]),
        status_info=str(d["status_info"]),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _payment_token(e: PaymentTokenIssued) -> dict[str, Any]:
    return {
        "connector_id": e.connector_id,
        "token": e.token,
        "currency": e.amount.currency.code,
        "amount_minor": e.amount.minor,
        "at_s": e.at_s,
    }


def _read_payment_token(d: dict[str, Any]) -> PaymentTokenIssued:
    amount = Money.of_minor(int(d["amount_minor"]), Currency.of(str(d["currency"])))
    return PaymentTokenIssued(str(d["connector_id"]), str(d["token"]), amount, float(d["at_s"]))


def _plug(e: EvConnected | EvWaitEnded) -> tuple[str, dict[str, Any]]:
    body = {"session_local_id": e.session_local_id, "connector_id": e.connector_id, "at_s": e.at_s}
    if isinstance(e, EvConnected):
        return EV_CONNECTED, body
    ended = body | {"reason": e.reason.name.lower()}
    if e.session is not None:
        ended["session"] = dataclasses.asdict(e.session)
    if e.id_token is not None:
        ended["id_token"] = _token(e.id_token)
    return EV_WAIT_ENDED, ended


def _read_plug(kind: str, d: dict[str, Any]) -> EvConnected | EvWaitEnded:
    local_id, cid, at_s = int(d["session_local_id"]), str(d["connector_id"]), float(d["at_s"])
    if kind == EV_CONNECTED:
        return EvConnected(local_id, cid, at_s)
    found = d.get("session")  # only where the transaction went on after its session
    session = None if found is None else SessionRegisters(
        float(found["started_at_s"]), int(found["start_wh"]), float(found["stopped_at_s"]),
        int(found["stop_wh"]), bool(found["with_begin"]),
    )  # fmt: skip
    token = _read_token(d.get("id_token"))
    return EvWaitEnded(local_id, cid, at_s, _REASONS[d["reason"]], session, token)


def _authorized_first(e: AuthorizedFirst) -> dict[str, Any]:
    return {
        "session_local_id": e.session_local_id,
        "connector_id": e.connector_id,
        "at_s": e.at_s,
        "id_token": _token(e.id_token),
        "remote_start_id": e.remote_start_id,
    }


def _read_authorized_first(d: dict[str, Any]) -> AuthorizedFirst:
    token = _read_token(d["id_token"])
    if token is None:
        raise UnreadableEvent("an authorisation without its id token")
    return AuthorizedFirst(
        int(d["session_local_id"]), str(d["connector_id"]), float(d["at_s"]), token,
        _int_or_none(d["remote_start_id"]),
    )  # fmt: skip
