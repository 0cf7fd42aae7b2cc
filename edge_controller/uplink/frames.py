"""Screening of frames from the CSMS before the OCPP library sees them.

Every bad frame gets an answer instead of silence, and nothing the CSMS sends can end the
connection: too large, not JSON, not an OCPP array, an unknown message type id. CALLERRORs
use OCPP 1.6 error codes; when no unique id can be read, ``"-1"`` is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CALL, CALLRESULT, CALLERROR = 2, 3, 4
UNKNOWN_ID = "-1"
MAX_UNIQUE_ID_CHARS = 36

# The OCPP library uses 2.0.1 spellings for some codes; a 1.6 CSMS expects the 1.6 ones.
_CODES_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "MessageTypeNotSupported": "ProtocolError",
    "RpcFrameworkError": "ProtocolError",
}


def code_16(code: str) -> str:
    return _CODES_16.get(code, code)


def call_error(unique_id: str, code: str, description: str, details: Any = None) -> str:
    frame = [CALLERROR, unique_id, code_16(code), description[:255], details or {}]
    return json.dumps(frame, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Verdict:
    """Either ``reply`` (a CALLERROR to send back), ``drop`` (ignore), or pass the frame on."""

    reply: str | None = None
    drop: bool = False
    message: list[Any] | None = None


def _unique_id(message: list[Any]) -> str | None:
    if (
        len(message) > 1
        and isinstance(message[1], str)
        and 0 < len(message[1]) <= MAX_UNIQUE_ID_CHARS
    ):
        return message[1]
    return None


def screen(raw: str | bytes, max_bytes: int) -> Verdict:
    """Check size, JSON, shape and message type; a CALL passed on has exactly 4 elements."""
    if isinstance(raw, bytes):
        return Verdict(reply=call_error(UNKNOWN_ID, "FormationViolation", "binary frame"))
    if len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        return Verdict(reply=call_error(UNKNOWN_ID, "FormationViolation", "frame too large"))
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return Verdict(reply=call_error(UNKNOWN_ID, "FormationViolation", "not valid JSON"))
    if not isinstance(message, list) or not message:
        return Verdict(reply=call_error(UNKNOWN_ID, "FormationViolation", "not a JSON array"))
    unique_id = _unique_id(message)
    kind = message[0]
    if kind in (CALLRESULT, CALLERROR) and not isinstance(kind, bool):
        # Never answer a response with an error: a malformed one is only logged.
        shape_ok = unique_id is not None and len(message) == (3 if kind == CALLRESULT else 5)
        return Verdict(message=message) if shape_ok else Verdict(drop=True)
    if kind != CALL or isinstance(kind, bool):
        return Verdict(
            reply=call_error(unique_id or UNKNOWN_ID, "ProtocolError", "unknown message type id")
        )
    if unique_id is None:
        return Verdict(reply=call_error(UNKNOWN_ID, "ProtocolError", "missing or bad unique id"))
    if len(message) != 4 or not isinstance(message[2], str):
        return Verdict(reply=call_error(unique_id, "ProtocolError", "CALL needs 4 elements"))
    if not isinstance(message[3], dict):
        return Verdict(reply=call_error(unique_id, "FormationViolation", "payload not an object"))
    return Verdict(message=message)
