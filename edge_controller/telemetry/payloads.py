"""JSON payloads of the state topics. Units are in the field names; per-phase values are
objects with keys l1, l2, l3; times (``at_s``, ``last_success_s``) are UTC Unix seconds, as the
views carry them. Non-finite numbers become null, so a payload always encodes."""

from __future__ import annotations

import json
import math
from typing import Any

from edge_controller.domain.display_messages import DisplayMessage
from edge_controller.domain.model import Phases3
from edge_controller.domain.problems import ProblemHandled
from edge_controller.domain.snapshot import (
    Availability,
    ChildView,
    ConnectorView,
    DeviceView,
    SiteView,
)
from edge_controller.domain.web_payment import PaymentCode, PaymentHold
from edge_controller.telemetry.advice import fault_advice
from edge_controller.telemetry.events import ProblemNotice, SessionNotice

JsonDict = dict[str, Any]


def encode_json(payload: JsonDict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _phases(values: Phases3 | None, digits: int = 2) -> JsonDict | None:
    if values is None:
        return None
    return {f"l{i}": _num(v, digits) for i, v in enumerate(values, start=1)}


def connector_payload(view: ConnectorView) -> JsonDict:
    faulted = view.availability is Availability.FAULTED or view.fault_text is not None
    fault_text = view.fault_text or ("fault" if faulted else None)
    return {
        "connector_id": view.connector_id,
        "availability": view.availability.value,
        "offered_current_a": _num(view.offered_current_a, 2),
        "measured_current_a": _phases(view.measured_current_a),
        "power_w": _num(view.power_w, 1),
        "session_energy_wh": energy_wh(view),
        "session_id": view.session_id,
        "limit_reason": view.limit_reason,
        "fault_text": fault_text,
        "fault_advice": fault_advice(fault_text) if fault_text is not None else None,
        "waiting_for_plug": _plug_wait(view),
        "status_info": view.status_info,
        "price": view.price,
        "running_cost": view.running_cost,
        "csms_cost": view.csms_cost,
        "at_s": _num(view.at_s, 3),
    }


def energy_wh(view: ConnectorView) -> float | None:
    """The session energy as a connector's state shows it."""
    return _num(view.session_energy_wh, 1)


def _plug_wait(view: ConnectorView) -> JsonDict | None:
    """An authorisation held for the next EV here: whose (masked id) and until when."""
    if view.plug_wait_token is None:
        return None
    return {"id_tag": view.plug_wait_token, "until_s": _num(view.plug_wait_until_s, 3)}


def site_payload(view: SiteView) -> JsonDict:
    headroom_min_a = min(view.headroom_a) if view.headroom_a is not None else None
    measured = [c.power_w for c in view.connectors if c.power_w is not None]
    return {
        "site_id": view.site_id,
        "grid_current_a": _phases(view.grid_current_a),
        "grid_voltage_v": _phases(view.grid_voltage_v, 1),
        "grid_power_w": _num(view.grid_power_w, 1),
        "grid_import_energy_wh": _num(view.grid_import_energy_wh, 1),
        "grid_export_energy_wh": _num(view.grid_export_energy_wh, 1),
        "grid_limit_a": _num(view.grid_limit_a, 2),
        "headroom_a": _phases(view.headroom_a),
        "headroom_min_a": _num(headroom_min_a, 2),
        "grid_reading_age_s": _num(view.grid_reading_age_s, 3),
        "charging_power_w": _num(sum(measured), 1) if measured else None,
        "allocation": [
            {
                "connector_id": c.connector_id,
                "offered_current_a": _num(c.offered_current_a, 2),
                "reason": c.limit_reason,
            }
            for c in view.connectors
        ],
        "allocation_notes": list(view.allocation_notes),
        "uplink_online": view.uplink_online,
        "outbox_backlog": view.outbox_backlog,
        "outbox_parked": view.outbox_parked,
        "payments_unknown": view.payments_unknown,
        "storage_alarm": view.storage_alarm,
        "gateway_faults": [{"key": f.key, "text": f.text} for f in view.gateway_faults],
        "at_s": _num(view.at_s, 3),
    }


def device_payload(view: DeviceView) -> JsonDict:
    return {
        "device_id": view.device_id,
        "available": view.available,
        "requests": view.requests,
        "errors": dict(sorted(view.errors.items())),
        "error_count": sum(view.errors.values()),
        "latency_p50_ms": _num(view.latency_p50_ms, 2),
        "latency_p99_ms": _num(view.latency_p99_ms, 2),
        "last_success_s": _num(view.last_success_s, 3),
        "fault_text": view.fault_text,
    }


def child_payload(view: ChildView, at_s: float) -> JsonDict:
    """A child gateway as its parent sees it, in the shape the status API gives it (per-phase
    values as [L1, L2, L3] lists, figures as the view has them), and when that was (``at_s``)."""
    return {
        "child_id": view.child_id,
        "report_age_s": _finite(view.report_age_s),
        "budget_a": None if view.budget_a is None else [_finite(a) for a in view.budget_a],
        "counted_a": [_finite(a) for a in view.counted_a],
        "lost": view.lost,
        "at_s": _num(at_s, 3),
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def session_event_payload(event: SessionNotice) -> JsonDict:
    return {
        "event": event.kind,
        "connector_id": event.connector_id,
        "session_id": event.session_id,
        "id_tag": event.id_tag,
        "energy_wh": _num(event.energy_wh, 1),
        "reason": event.reason,
        "cost": event.cost,
        "at_s": _num(event.at_s, 3),
    }


def problem_event_payload(event: ProblemNotice | ProblemHandled) -> JsonDict:
    if isinstance(event, ProblemHandled):
        return {
            "event": event.done,
            "reference": event.reference,
            "connector_id": event.connector_id,
            "state": event.state.value,
            "by": event.by,
            "note": event.note,
            "at_s": _num(event.at_s, 3),
        }
    return {
        "event": "reported",
        "reference": event.reference,
        "connector_id": event.connector_id,
        "kind": event.kind,
        "text": event.text,
        "source": event.source,
        "at_s": _num(event.at_s, 3),
    }


def messages_payload(messages: tuple[DisplayMessage, ...]) -> JsonDict:
    """The display messages shown now (first first), as the site display shows them; times
    on the site's clock."""
    return {
        "messages": [
            {
                "id": m.message_id,
                "priority": m.priority.value,
                "format": m.format.value,
                "language": m.language,
                "content": m.content,
                "state": None if m.state is None else m.state.value,
                "start_s": m.start_s,
                "end_s": m.end_s,
                "transaction_id": m.transaction_id,
                "station": m.station,
                "translations": [
                    {"language": tag, "content": text} for tag, text in m.translations
                ],
            }
            for m in messages
        ]
    }


def payment_payload(code: PaymentCode | None, hold: PaymentHold | None) -> JsonDict:
    """A connector's web payment: the URL its QR code opens and where that comes from, and
    until when it is held for a driver paying on the web (site clock)."""
    return {
        "qr_url": None if code is None else code.url,
        "qr_source": None if code is None else code.source.value,
        "held_until_s": None if hold is None else _num(hold.until_s, 3),
    }
