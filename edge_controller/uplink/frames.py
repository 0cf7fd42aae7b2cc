"""Screening of frames from the CSMS before the OCPP library sees them.

Every bad frame gets an answer instead of silence: not JSON, not an OCPP array, an unknown
message type id, or too large. Sizes (``ocpp.max_frame_bytes``, the soft limit):

- up to the soft limit a frame is parsed and handled. The default fits the largest message a
  CSMS has reason to send: a SendLocalList carrying the whole local list at its maximum size
  (``LocalAuthListMaxLength`` entries, each at its largest, see ``full_local_list_bytes``);
- above it, up to the hard limit (``hard_limit_bytes``: twice the soft one), the frame is not
  parsed; it gets a CALLERROR FormationViolation with its unique id when the frame's head shows
  one (else ``"-1"``), and the connection goes on;
- above the hard limit the websocket library refuses to buffer the frame and closes the
  connection with 1009 (message too big); the uplink reconnects with its usual backoff and
  sends whatever is queued (nothing recorded is lost). Memory per connection stays bounded.

CALLERRORs use OCPP 1.6 error codes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

CALL, CALLRESULT, CALLERROR = 2, 3, 4
UNKNOWN_ID = "-1"
MAX_UNIQUE_ID_CHARS = 36
ID_TAG_MAX_CHARS = 20  # CiString20Type
LOCAL_LIST_MAX_ENTRIES = 10_000  # LocalAuthListMaxLength
# The longest usual RFC 3339 form of an expiry date (microseconds and a numeric offset).
_LONGEST_DATE = "2026-11-27T00:00:00.000000+00:00"
_HEAD_CHARS = 200
_HEAD_ID = re.compile(r'\s*\[\s*2\s*,\s*"([^"\\]{1,' + str(MAX_UNIQUE_ID_CHARS) + r'})"')


def full_local_list_bytes(entries: int = LOCAL_LIST_MAX_ENTRIES) -> int:
    """The size of a SendLocalList CALL with ``entries`` entries, each at its largest (both id
    tags 20 characters, an expiry date, the longest status), spaced as ``json.dumps`` does."""
    tag = "X" * ID_TAG_MAX_CHARS
    info = {"expiryDate": _LONGEST_DATE, "parentIdTag": tag, "status": "ConcurrentTx"}
    entry = json.dumps({"idTag": tag, "idTagInfo": info})
    payload = {"listVersion": 2**31 - 1, "updateType": "Differential",
               "localAuthorizationList": []}  # fmt: skip
    envelope = json.dumps([CALL, "u" * MAX_UNIQUE_ID_CHARS, "SendLocalList", payload])
    return len(envelope) + entries * (len(entry) + len(", "))


def hard_limit_bytes(max_bytes: int) -> int:
    """Frames above this are not even buffered (the connection closes with 1009)."""
    return 2 * max_bytes


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
    if len(raw) > max_bytes or len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        head = _HEAD_ID.match(raw[:_HEAD_CHARS])
        unique_id = head.group(1) if head else UNKNOWN_ID
        return Verdict(reply=call_error(unique_id, "FormationViolation", "frame too large"))
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
