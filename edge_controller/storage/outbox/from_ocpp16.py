"""Schema 8: outbox rows written as OCPP 1.6 messages become events (``domain.sessions.events``).

Up to schema 7 the session side queued StartTransaction, MeterValues and StopTransaction
payloads. Each row becomes the event it reported, in place: same sequence number, identity,
state, attempts and creation time, so the line keeps its order and a message in flight before
the upgrade is sent again with the same unique id. The event keeps every digit the payload had
(registers in Wh, values as written), and renders for OCPP 1.6 to the payload the row held.

What a session row adds: a stop's connector and start, a start's token type and offline flag.
A row that is no such message (or a form no release wrote) is kept unchanged under the type
``UNCONVERTED``, parked with the reason when it was pending: nothing is dropped, and an
operator sees it among the parked rows.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions.events import (
    Conductor,
    IdToken,
    Location,
    MeterSampled,
    OutboxEvent,
    Quantity,
    Reading,
    ReadingContext,
    SessionEnded,
    SessionStarted,
    TokenType,
    token_type_for,
)
from edge_controller.storage.outbox.codec import encode
from edge_controller.storage.outbox.rows import kind_of

UNCONVERTED = "ocpp16_unconverted"

CONTEXTS = {
    "Transaction.Begin": ReadingContext.BEGIN,
    "Transaction.End": ReadingContext.END,
    "Sample.Periodic": ReadingContext.PERIODIC,
    "Sample.Clock": ReadingContext.CLOCK_ALIGNED,
    "Trigger": ReadingContext.TRIGGER,
}
QUANTITIES = {
    ("Energy.Active.Import.Register", "Wh"): Quantity.ENERGY_IMPORT_REGISTER_WH,
    ("Power.Active.Import", "W"): Quantity.POWER_IMPORT_W,
    ("Current.Import", "A"): Quantity.CURRENT_IMPORT_A,
    ("Voltage", "V"): Quantity.VOLTAGE_V,
    ("Current.Offered", "A"): Quantity.CURRENT_OFFERED_A,
    ("SoC", "Percent"): Quantity.STATE_OF_CHARGE_PCT,
}
DEFAULT_UNITS = {measurand: unit for measurand, unit in QUANTITIES}
LOCATIONS = {"Outlet": Location.OUTLET, "EV": Location.EV}
REASONS = {reason.value: reason for reason in StopReason}

# the sampled contexts as the meter_values table wrote them up to schema 7
METER_VALUE_CONTEXTS = """
UPDATE meter_values SET context = CASE context
    WHEN 'Transaction.Begin' THEN 'begin' WHEN 'Transaction.End' THEN 'end'
    WHEN 'Sample.Periodic' THEN 'periodic' WHEN 'Sample.Clock' THEN 'clock_aligned'
    WHEN 'Trigger' THEN 'trigger' ELSE context END
"""


class Unconvertible(ValueError):
    """A row that is not a session message of OCPP 1.6 as a release wrote it."""


def migrate_outbox(conn: sqlite3.Connection) -> None:
    """The schema 8 step, inside the caller's transaction."""
    conn.execute("ALTER TABLE outbox ADD COLUMN event TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE outbox ADD COLUMN body TEXT NOT NULL DEFAULT ''")
    rows = conn.execute(
        "SELECT seq, action, payload, session_local_id, state FROM outbox ORDER BY seq"
    ).fetchall()
    for row in rows:
        seq, action, payload, local_id, _ = row
        try:
            event = event_of(action, json.loads(payload), _session(conn, local_id), local_id)
        except (Unconvertible, ValueError, KeyError, TypeError, InvalidOperation) as exc:
            _keep_unconverted(conn, row, exc)
            continue
        event_type, body = encode(event)
        conn.execute(
            "UPDATE outbox SET event = ?, body = ?, kind = ? WHERE seq = ?",
            (event_type, body, kind_of(event), seq),
        )
    conn.execute("ALTER TABLE outbox DROP COLUMN action")
    conn.execute("ALTER TABLE outbox DROP COLUMN payload")
    conn.execute(METER_VALUE_CONTEXTS)


def _keep_unconverted(conn: sqlite3.Connection, row: tuple[Any, ...], why: Exception) -> None:
    """``row``: seq, action, payload, session, state."""
    seq, action, payload, _, state = row
    body = json.dumps({"action": action, "payload": payload}, separators=(",", ":"))
    reason = f"not an event: {action} row of schema 7 ({why})"[:500]
    conn.execute(
        "UPDATE outbox SET event = ?, body = ?, kind = 'other', state = ?,"
        " last_error = CASE WHEN state = 'pending' THEN ? ELSE last_error END WHERE seq = ?",
        (UNCONVERTED, body, "parked" if state == "pending" else state, reason, seq),
    )


def _session(conn: sqlite3.Connection, local_id: int | None) -> tuple[Any, ...] | None:
    if local_id is None:
        return None
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT connector_id, start_at_s, meter_start_wh, source, authorized_offline"
        " FROM sessions WHERE local_id = ?",
        (local_id,),
    ).fetchone()
    return row


def event_of(action: str, payload: Any, session: Any, local_id: int | None) -> OutboxEvent:
    """The event an OCPP 1.6 ``payload`` of ``action`` reported; ``session``: the session row
    (connector_id, start_at_s, meter_start_wh, source, authorized_offline) or None."""
    if not isinstance(payload, dict):
        raise Unconvertible("the payload is not an object")
    if action == "StartTransaction":
        return _started(payload, session, local_id)
    if action == "StopTransaction":
        return _ended(payload, session, local_id)
    if action == "MeterValues":
        return _sampled(payload, session, local_id)
    raise Unconvertible(f"no event reports {action}")


def _connector(payload: dict[str, Any], session: Any) -> str:
    """Our connector id: written by the session side; a number only with a known session."""
    connector = payload.get("connectorId")
    if isinstance(connector, str):
        return connector
    if session is None:
        raise Unconvertible(f"connector {connector!r} of no known session")
    return str(session[0])


def _started(payload: dict[str, Any], session: Any, local_id: int | None) -> SessionStarted:
    if local_id is None or session is None:
        raise Unconvertible("a start of no known session")
    reservation = payload.get("reservationId")
    return SessionStarted(
        session_local_id=local_id,
        connector_id=_connector(payload, session),
        at_s=_time_s(payload["timestamp"]),
        start_register_wh=_int(payload["meterStart"]),
        id_token=IdToken(str(payload["idTag"]), token_type_for(str(session[3]))),
        reservation_id=None if reservation is None else _int(reservation),
        authorized_offline=bool(session[4]),
    )


def _ended(payload: dict[str, Any], session: Any, local_id: int | None) -> SessionEnded:
    if local_id is None or session is None:
        raise Unconvertible("a stop of no known session")
    begin = _begin(payload.get("transactionData"))
    started_at_s, start_wh = begin if begin is not None else (float(session[1]), int(session[2]))
    tag = payload.get("idTag")
    return SessionEnded(
        session_local_id=local_id,
        connector_id=str(session[0]),
        at_s=_time_s(payload["timestamp"]),
        stop_register_wh=_int(payload["meterStop"]),
        reason=REASONS[payload.get("reason", StopReason.LOCAL.value)],
        started_at_s=started_at_s,
        start_register_wh=start_wh,
        with_registers=begin is not None,
        id_token=None if tag is None else IdToken(str(tag), TokenType.CARD),
    )


def _begin(data: Any) -> tuple[float, int] | None:
    """(time, register) of the start in a stop's transactionData as the session side wrote
    it (the registers at begin and end); None without one."""
    if data is None:
        return None
    if not isinstance(data, list) or len(data) != 2:
        raise Unconvertible("transactionData other than the registers at begin and end")
    first = _sample(data[0])
    (reading,) = first.readings
    if first.context is not ReadingContext.BEGIN or reading.value != int(reading.value):
        raise Unconvertible("transactionData that does not begin with the start register")
    return first.at_s, int(reading.value)


def _sampled(payload: dict[str, Any], session: Any, local_id: int | None) -> MeterSampled:
    values = payload["meterValue"]
    if not isinstance(values, list) or len(values) != 1:
        raise Unconvertible("MeterValues without exactly one meterValue")
    sample = _sample(values[0])
    return MeterSampled(
        local_id, _connector(payload, session), sample.at_s, sample.context, sample.readings
    )


def _sample(value: dict[str, Any]) -> MeterSampled:
    """One meterValue as a sample of no connector (``connector_id`` empty)."""
    sampled = value["sampledValue"]
    contexts = {v.get("context", "Sample.Periodic") for v in sampled}
    if len(contexts) != 1:
        raise Unconvertible("sampled values of different contexts in one meterValue")
    readings = tuple(_reading(v) for v in sampled)
    return MeterSampled(None, "", _time_s(value["timestamp"]), CONTEXTS[contexts.pop()], readings)


def _reading(value: dict[str, Any]) -> Reading:
    if value.get("format", "Raw") != "Raw":
        raise Unconvertible("a signed sampled value")
    measurand = value.get("measurand", "Energy.Active.Import.Register")
    unit = value.get("unit", DEFAULT_UNITS.get(measurand))
    quantity = QUANTITIES.get((str(measurand), str(unit)))
    if quantity is None:
        raise Unconvertible(f"no quantity for {measurand} in {unit}")
    phase, location = value.get("phase"), value.get("location")
    number = Decimal(str(value["value"]))
    if not number.is_finite():
        raise Unconvertible(f"the value {value['value']!r} is not a number")
    return Reading(
        quantity,
        number,
        None if phase is None else Conductor(phase),
        None if location is None else LOCATIONS[location],
    )


def _time_s(text: Any) -> float:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unconvertible(f"{value!r} is not a whole number")
    return value
