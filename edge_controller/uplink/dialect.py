"""What differs between the OCPP-J versions at the RPC level. Pure.

All versions frame messages the same way (``[2, id, action, payload]`` and its answers); they
differ in the subprotocol name, the message types they know (2.1 adds CALLRESULTERROR ``[5,
...]`` and SEND ``[6, ...]``, which is never answered) and how each error code is spelt. The
RPC layer names a ``Fault``; the dialect gives the code the peer expects for it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6


class Fault(enum.Enum):
    """Why a message is refused, independent of the version's spelling."""

    BAD_FRAME = "not an RPC message at all (not JSON, not an array, binary)"
    TOO_LARGE = "frame above the size limit"
    UNKNOWN_TYPE = "message type id not known"
    BAD_CALL = "a CALL without a usable unique id or with the wrong element count"
    BAD_PAYLOAD = "payload not an object, or members the schema does not allow"
    TYPE = "a value of the wrong type or length"
    PROPERTY = "a value outside what the schema allows"
    OCCURRENCE = "a required member missing, or too few or too many items"
    NOT_IMPLEMENTED = "action not known"
    NOT_SUPPORTED = "action known but not handled"
    INTERNAL = "the receiver failed"
    SECURITY = "refused for security reasons"
    GENERIC = "any other error"


_COMMON = {
    Fault.TYPE: "TypeConstraintViolation",
    Fault.PROPERTY: "PropertyConstraintViolation",
    # OCPP 1.6 says NotImplemented for an unknown action and NotSupported for a known one
    # that is not handled; the later versions keep the same meaning.
    Fault.NOT_IMPLEMENTED: "NotImplemented",
    Fault.NOT_SUPPORTED: "NotSupported",
    Fault.INTERNAL: "InternalError",
    Fault.SECURITY: "SecurityError",
    Fault.GENERIC: "GenericError",
}
_CODES_16 = {
    **_COMMON,
    Fault.BAD_FRAME: "FormationViolation",
    Fault.TOO_LARGE: "FormationViolation",
    Fault.UNKNOWN_TYPE: "ProtocolError",
    Fault.BAD_CALL: "ProtocolError",
    Fault.BAD_PAYLOAD: "FormationViolation",
    Fault.OCCURRENCE: "OccurenceConstraintViolation",  # sic, as the 1.6 errata keep it
}
_CODES_201 = {
    **_COMMON,
    Fault.BAD_FRAME: "RpcFrameworkError",
    Fault.TOO_LARGE: "FormatViolation",
    Fault.UNKNOWN_TYPE: "MessageTypeNotSupported",
    Fault.BAD_CALL: "RpcFrameworkError",
    Fault.BAD_PAYLOAD: "FormatViolation",
    Fault.OCCURRENCE: "OccurenceConstraintViolation",  # sic in 2.0.1 too
}
_CODES_21 = {**_CODES_201, Fault.OCCURRENCE: "OccurrenceConstraintViolation"}


@dataclass(frozen=True, slots=True)
class Dialect:
    """``version`` as the schema folders of the ``ocpp`` package name it (1.6, 2.0.1, 2.1)."""

    version: str
    subprotocol: str
    codes: Mapping[Fault, str]
    calls: frozenset[int] = frozenset({CALL})  # types that carry an action and a payload
    answers: frozenset[int] = frozenset({CALLRESULT, CALLERROR})
    id_token_chars: int = 20  # the longest id token (1.6 idTag) the version carries

    def code(self, fault: Fault) -> str:
        return self.codes[fault]

    def answered(self, kind: int) -> bool:
        """Whether a message of this type gets an answer (a SEND never does)."""
        return kind == CALL


OCPP16 = Dialect("1.6", "ocpp1.6", _CODES_16)
OCPP201 = Dialect("2.0.1", "ocpp2.0.1", _CODES_201, id_token_chars=36)
OCPP21 = Dialect(
    "2.1",
    "ocpp2.1",
    _CODES_21,
    calls=frozenset({CALL, SEND}),
    answers=frozenset({CALLRESULT, CALLERROR, CALLRESULTERROR}),
    id_token_chars=255,
)
DIALECTS = {d.version: d for d in (OCPP16, OCPP201, OCPP21)}
_BY_SUBPROTOCOL = {d.subprotocol: d for d in DIALECTS.values()}


class UnknownSubprotocol(ConnectionError):
    """The connection speaks a subprotocol that is no OCPP version we know (or none we can
    serve there): the connection is dropped and tried again, as a failed handshake is."""


def negotiated(subprotocol: str | None) -> Dialect:
    """The dialect of the subprotocol the peer chose in the handshake. A CSMS that chose none
    accepted the only version a charge point offered so far: 1.6."""
    if subprotocol is None:
        return OCPP16
    found = _BY_SUBPROTOCOL.get(subprotocol)
    if found is None:
        raise UnknownSubprotocol(f"not an OCPP subprotocol: {subprotocol!r}")
    return found
