"""Schema check of CSMS calls with the OCPP 1.6 error codes each kind of violation calls for."""

from __future__ import annotations

import decimal
import json
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaError  # type: ignore[import-untyped]
from ocpp.messages import MessageType, get_validator  # type: ignore[import-untyped]

_CODES = {
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "minLength": "TypeConstraintViolation",
    "format": "TypeConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
    "required": "OccurenceConstraintViolation",
    "minItems": "OccurenceConstraintViolation",
    "maxItems": "OccurenceConstraintViolation",
    "additionalProperties": "FormationViolation",
}


# Schemas with multipleOf 0.1 must see decimals, as the library validates them (its validator
# cache does not key on the float parser, so both must use the same one).
_DECIMAL_ACTIONS = frozenset({"SetChargingProfile", "RemoteStartTransaction"})


def check_call(action: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """None when the payload is valid; else (1.6 error code, description)."""
    parse_float: Any = float
    if action in _DECIMAL_ACTIONS:
        parse_float = decimal.Decimal
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    try:
        validator = get_validator(MessageType.Call, action, "1.6", parse_float=parse_float)
    except (OSError, ValueError):
        return None  # no schema: the router answers NotImplemented/NotSupported
    error: SchemaError | None = next(iter(validator.iter_errors(payload)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    return _CODES.get(str(error.validator), "FormationViolation"), f"{where}: {error.message}"
