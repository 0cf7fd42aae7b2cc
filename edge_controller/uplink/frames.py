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

CALLERRORs use the error codes of the connection's version (``dialect``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from edge_controller.uplink.dialect import (
    CALL,
    CALLERROR,
    CALLRESULT,
    CALLRESULTERROR,
    OCPP16,
    Dialect,
    Fault,
)

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


def call_error(unique_id: str, code: str, description: str, details: Any = None) -> str:
    frame = [CALLERROR, unique_id, code, description[:255], details or {}]
    return json.dumps(frame, separators=(",", ":"))


def fault_frame(dialect: Dialect, unique_id: str, fault: Fault, description: str) -> str:
    """The CALLERROR for ``fault``, spelt as the connection's version spells it."""
    return call_error(unique_id, dialect.code(fault), description)


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


# Elements of a well-formed answer, by message type (CALLRESULTERROR as CALLERROR).
_ANSWER_LENGTHS = {CALLRESULT: 3, CALLERROR: 5, CALLRESULTERROR: 5}


def screen(raw: str | bytes, max_bytes: int, dialect: Dialect = OCPP16) -> Verdict:
    """Check size, JSON, shape and message type; a CALL (or SEND) passed on has exactly 4
    elements, a string action and an object payload. A bad SEND is dropped: it is never
    answered, not even with an error."""

    def refuse(unique_id: str, fault: Fault, description: str) -> Verdict:
        return Verdict(reply=fault_frame(dialect, unique_id, fault, description))

    if isinstance(raw, bytes):
        return refuse(UNKNOWN_ID, Fault.BAD_FRAME, "binary frame")
    if len(raw) > max_bytes or len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        head = _HEAD_ID.match(raw[:_HEAD_CHARS])
        return refuse(head.group(1) if head else UNKNOWN_ID, Fault.TOO_LARGE, "frame too large")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return refuse(UNKNOWN_ID, Fault.BAD_FRAME, "not valid JSON")
    if not isinstance(message, list) or not message:
        return refuse(UNKNOWN_ID, Fault.BAD_FRAME, "not a JSON array")
    unique_id = _unique_id(message)
    kind = message[0]
    known = isinstance(kind, int) and not isinstance(kind, bool)
    if known and kind in dialect.answers:
        # Never answer a response with an error: a malformed one is only logged.
        shape_ok = unique_id is not None and len(message) == _ANSWER_LENGTHS[kind]
        return Verdict(message=message) if shape_ok else Verdict(drop=True)
    if not known or kind not in dialect.calls:
        return refuse(unique_id or UNKNOWN_ID, Fault.UNKNOWN_TYPE, "unknown message type id")
    problem = _call_problem(message, unique_id)
    if problem is None:
        return Verdict(message=message)
    return refuse(*problem) if dialect.answered(kind) else Verdict(drop=True)


def _call_problem(message: list[Any], unique_id: str | None) -> tuple[str, Fault, str] | None:
    if unique_id is None:
        return UNKNOWN_ID, Fault.BAD_CALL, "missing or bad unique id"
    if len(message) != 4 or not isinstance(message[2], str):
        return unique_id, Fault.BAD_CALL, "CALL needs 4 elements"
    if not isinstance(message[3], dict):
        return unique_id, Fault.BAD_PAYLOAD, "payload not an object"
    return None
