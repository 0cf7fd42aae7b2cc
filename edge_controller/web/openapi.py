"""The OpenAPI 3.1 document of ``/api/v1``, made from ``ROUTES``: ``web.api`` serves exactly
these (it refuses to start otherwise), and tests hold the document against the routes of the
running application both ways and validate real answers against its schemas.

The schemas of the status view's objects are made from their dataclasses (``domain.snapshot``),
so a field added there is documented at once."""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin, get_type_hints

from edge_controller import __version__
from edge_controller.domain.problems import MAX_TEXT_CHARS, ProblemKind, ProblemState
from edge_controller.domain.snapshot import (
    ChildView,
    ConnectorView,
    DeviceView,
    ErrorEvent,
    GatewayFault,
    SiteView,
)

Schema = dict[str, Any]
_VIEWS: dict[type, str] = {
    SiteView: "Site",
    ConnectorView: "Connector",
    DeviceView: "Device",
    GatewayFault: "GatewayFault",
    ChildView: "ChildGateway",
}
METER_KEYS = (
    "grid_current_a", "grid_voltage_v", "grid_power_w", "grid_import_energy_wh",
    "grid_export_energy_wh", "grid_reading_age_s", "at_s",
)  # fmt: skip


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_SCALARS: dict[Any, Schema] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    Any: {},
}


def type_schema(hint: Any) -> Schema:
    """The JSON schema of a value of type ``hint`` as ``api.codec`` writes it (enums by value,
    tuples as arrays, the view dataclasses by reference)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        inner = (
            type_schema(kinds[0]) if len(kinds) == 1 else {"anyOf": [type_schema(k) for k in kinds]}
        )
        return _nullable(inner) if len(kinds) < len(args) else inner
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [m.value for m in hint]}
    if hint in _VIEWS:
        return _ref(_VIEWS[hint])
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _array(type_schema(args[0]))
    if origin is tuple:
        items = [type_schema(a) for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1])}
    raise TypeError(f"no JSON schema for {hint!r}")


def dataclass_schema(cls: type) -> Schema:
    """Every field, required (the codec writes each one, null where absent), and no other."""
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    return {
        "type": "object",
        "required": names,
        "additionalProperties": False,
        "properties": {name: type_schema(hints[name]) for name in names},
    }


def _object(properties: Mapping[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
        "properties": dict(properties),
    }


_NUMBER, _INTEGER, _STRING = {"type": "number"}, {"type": "integer"}, {"type": "string"}
_MAYBE_NUMBER, _MAYBE_STRING = _nullable(_NUMBER), _nullable(_STRING)
_MAYBE_INTEGER = _nullable(_INTEGER)
_REQUEST_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 64}
_NOTE: Schema = {
    "type": "string", "maxLength": 4 * MAX_TEXT_CHARS,
    "description": f"stored cleaned (control characters dropped), at most {MAX_TEXT_CHARS} "
    "characters",
}  # fmt: skip


def _schemas() -> dict[str, Schema]:
    site = dataclass_schema(SiteView)
    limit_row = _object(
        {
            "connector_id": _STRING, "offered_current_a": _NUMBER, "limit_reason": _STRING,
            "min_current_a": _NUMBER, "max_current_a": _NUMBER,
        },
        optional=("min_current_a", "max_current_a"),
    )  # fmt: skip
    device = dataclass_schema(DeviceView)
    return {
        **{name: dataclass_schema(cls) for cls, name in _VIEWS.items()},
        "ErrorEvent": dataclass_schema(ErrorEvent),
        "DeviceHealth": _object(
            device["properties"] | {"error_history": _array(_ref("ErrorEvent"))}
        ),
        "Meter": _object({key: site["properties"][key] for key in METER_KEYS}),
        "Limits": _object(
            {
                "grid_limit_a": _NUMBER,
                "headroom_a": site["properties"]["headroom_a"],
                "connectors": _array(limit_row),
                "at_s": _NUMBER,
            }
        ),
        "Session": _object(
            {
                "session_id": _INTEGER,
                "connector_id": _STRING,
                "id_tag": _STRING,
                "start_at_s": _NUMBER,
                "stop_at_s": _MAYBE_NUMBER,
                "energy_wh": _INTEGER,
                "stop_reason": _MAYBE_STRING,
                "tariff_id": _MAYBE_STRING,
                "tariff_version": _MAYBE_INTEGER,
            }
        ),
        "Receipt": _receipt(),
        "Problem": _object(
            {
                "reference": {"type": "string", "pattern": "^P-[0-9]{6,}$"},
                "connector_id": _STRING,
                "kind": type_schema(ProblemKind),
                "text": _STRING,
                "source": _STRING,
                "state": type_schema(ProblemState),
                "filed_at_s": _NUMBER,
                "handled_by": _MAYBE_STRING,
                "handled_at_s": _MAYBE_NUMBER,
                "note": _MAYBE_STRING,
                "notes": _array(
                    _object(
                        {
                            "action": {"enum": ["acknowledged", "resolved", "noted"]},
                            "by": _STRING,
                            "at_s": _NUMBER,
                            "note": _STRING,
                        }
                    )
                ),
            }
        ),
        "CommandAnswer": _object(
            {
                "ok": {"const": True},
                "request_id": _nullable(_REQUEST_ID),
                "connector_id": _MAYBE_STRING,
            }
        ),
        "Error": _object({"code": _STRING, "message": _STRING}),
        **_bodies(),
    }


def _receipt() -> Schema:
    """The receipt's own fields (``domain.pricing.receipt``); its parts are objects as the
    receipt command writes them."""
    any_object, objects = {"type": "object"}, _array({"type": "object"})
    money = _MAYBE_STRING
    return _object(
        {
            "receipt_id": _STRING, "site_id": _STRING, "session_id": _INTEGER,
            "connector_id": _STRING, "id_tag": _STRING, "started_at": _STRING,
            "stopped_at": _STRING, "started_local": _STRING, "stopped_local": _STRING,
            "stop_reason": _MAYBE_STRING, "energy": any_object,
            "tariff": _nullable(any_object), "currency": _MAYBE_STRING,
            "type_of_cost": _MAYBE_STRING, "lines": objects, "taxes": objects,
            "total_excl_tax": money, "total_incl_tax": money, "periods": objects,
            "payment": any_object,
        }
    )  # fmt: skip


def _bodies() -> dict[str, Schema]:
    """Request bodies: the MQTT command payloads (docs/mqtt.md) without what the path says."""
    current = {
        **_nullable({"type": "number", "minimum": 0}),
        "description": "A; null lifts the limit. A connector's: 0 or at least 6 A",
    }
    return {
        "LimitBody": _object({"current_a": current, "request_id": _REQUEST_ID}, ("request_id",)),
        "StartBody": _object(
            {
                "id_tag": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "pattern": "^[\\x21-\\x7e]+$",
                },
                "key_code": {
                    "type": "boolean",
                    "description": "the id is a code the driver typed in (OCPP 2.x KeyCode)",
                },
                "request_id": _REQUEST_ID,
            },
            ("request_id",),
        ),
        "RequestBody": _object({"request_id": _REQUEST_ID}, ("request_id",)),
        "ProblemChangeBody": _object({"note": _NOTE}, ("note",)),
        "ProblemNoteBody": _object({"note": {**_NOTE, "minLength": 1}}),
    }


@dataclass(frozen=True, slots=True)
class Route:
    """One operation of the API. A write (``command`` set) sends that command (MQTT's name,
    what ``allowed_commands`` lists) with the path's connector and ``fixed`` fields; a problem
    report's change (``handles``: ``acknowledged``, ``resolved`` or ``noted``) needs
    ``PROBLEMS`` in ``allowed_commands``."""

    method: str
    path: str
    summary: str
    answer: Schema  # the 200 answer
    parameters: tuple[Schema, ...] = ()
    command: str | None = None
    body: str | None = None  # request body schema (component); required unless RequestBody
    fixed: Mapping[str, Any] = field(default_factory=dict)
    handles: str | None = None

    @property
    def writes(self) -> bool:
        return self.command is not None or self.handles is not None


_LIMIT_PARAM = {
    "name": "limit", "in": "query", "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
}  # fmt: skip
_OPEN = {"name": "open", "in": "query", "required": False, "schema": {"type": "boolean"}}
CONNECTOR = {"name": "connector_id", "in": "path", "required": True, "schema": _STRING}
_SESSION = {"name": "session_id", "in": "path", "required": True, "schema": _INTEGER}
_REFERENCE = {
    "name": "reference", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^P-[0-9]{6,}$"},
}  # fmt: skip
_C = "/connectors/{connector_id}"
COMMAND_PATH = "/commands/{name}"
COMMAND_NAMES = ("site_limit", "connector_limit", "connector_enabled", "session_start",
                 "session_stop", "pay")  # fmt: skip
PROBLEMS = "problems"  # what allowed_commands names for acknowledging, resolving and noting
_ANSWER = _ref("CommandAnswer")
OPTIONAL_BODIES = ("RequestBody", "ProblemChangeBody")


def _write(method: str, path: str, summary: str, command: str, body: str, **fixed: Any) -> Route:
    parameters = (CONNECTOR,) if "{connector_id}" in path else ()
    return Route(method, path, summary, _ANSWER, parameters, command, body, fixed)


def _problem(verb: str, handles: str, body: str, summary: str) -> Route:
    path = f"/problems/{{reference}}/{verb}"
    summary += (
        "; recorded with the token's name as `token:<name>`, sent on MQTT and to the CSMS as "
        f"the console's are (the token's allowed_commands must name `{PROBLEMS}`)"
    )
    return Route("post", path, summary, _ref("Problem"), (_REFERENCE,), None, body,
                 handles=handles)  # fmt: skip


ROUTES: tuple[Route, ...] = (
    Route("get", "/state", "The whole site's live status view (as `edge-controller status "
          "--json`)", _ref("Site")),
    Route("get", "/connectors", "Every connector's live state", _array(_ref("Connector"))),
    Route("get", _C, "One connector's live state", _ref("Connector"), (CONNECTOR,)),
    Route("get", "/devices", "Every bus device and card reader with its health and its last "
          "error events (at most 50, newest first; kept in memory since the daemon started)",
          _array(_ref("DeviceHealth"))),
    Route("get", "/meter", "The grid meter's latest reading", _ref("Meter")),
    Route("get", "/limits", "The grid limit, the headroom and each connector's current with its "
          "reason and configured range", _ref("Limits")),
    Route("get", "/sessions", "The latest sessions, newest first (id tags masked)",
          _array(_ref("Session")), (_LIMIT_PARAM,)),
    Route("get", "/sessions/{session_id}/receipt", "The receipt of a finished session (as "
          "`edge-controller sessions receipt`)", _ref("Receipt"), (_SESSION,)),
    Route("get", "/problems", "Problem reports, newest first", _array(_ref("Problem")),
          (_LIMIT_PARAM, _OPEN)),
    _write("put", "/site/limit", "Set the site's limit (command site_limit)", "site_limit",
           "LimitBody"),
    _write("put", f"{_C}/limit", "Set a connector's limit (command connector_limit)",
           "connector_limit", "LimitBody"),
    _write("post", f"{_C}/enable", "Put a connector back in service (command "
           "connector_enabled)", "connector_enabled", "RequestBody", enabled=True),
    _write("post", f"{_C}/disable", "Take a connector out of service (command "
           "connector_enabled)", "connector_enabled", "RequestBody", enabled=False),
    _write("post", f"{_C}/start", "Start a session for an id tag, authorised like a card "
           "(command session_start)", "session_start", "StartBody"),
    _write("post", f"{_C}/stop", "Stop the connector's session (command session_stop)",
           "session_stop", "RequestBody"),
    _write("post", f"{_C}/pay", "Pay at the card terminal that serves the connector, then "
           "charge (command pay); answered when the payment and the start are decided",
           "pay", "RequestBody"),
    _problem("acknowledge", "acknowledged", "ProblemChangeBody",
             "Acknowledge a problem report, with an optional note"),
    _problem("resolve", "resolved", "ProblemChangeBody",
             "Resolve a problem report, with an optional note"),
    _problem("notes", "noted", "ProblemNoteBody", "Add a note to a problem report, in any state"),
)  # fmt: skip

_WHY = {
    "400": "a parameter or the body is wrong",
    "401": "no valid token",
    "403": "the token may not send this command",
    "404": "no such item",
    "409": "the site refused the command, or the report's change does not apply",
    "503": "too many payments in progress",
    "504": "no answer in time; the command may still be applied",
}


def _responses(answer: Schema, statuses: tuple[str, ...]) -> Schema:
    errors = {
        status: {"description": _WHY[status],
                 "content": {"application/json": {"schema": _ref("Error")}}}
        for status in statuses
    }  # fmt: skip
    ok = {"description": "OK", "content": {"application/json": {"schema": answer}}}
    return {"200": ok, **errors}


def _operation(route: Route) -> Schema:
    statuses = ["401"]
    statuses += ["400"] if route.parameters or route.body else []
    statuses += ["404"] if any(p["in"] == "path" for p in route.parameters) else []
    statuses += ["403", "409"] if route.writes else []
    statuses += ["504"] if route.command else []
    statuses += ["503"] if route.command == "pay" else []
    operation: Schema = {
        "summary": route.summary,
        "parameters": list(route.parameters),
        "responses": _responses(route.answer, tuple(sorted(statuses))),
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body not in OPTIONAL_BODIES,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    return operation


def _command_operation() -> Schema:
    return {
        "summary": "Send a command by name: the body is the MQTT command's payload "
        "(docs/mqtt.md); only the commands of the token's allowed_commands",
        "parameters": [
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": list(COMMAND_NAMES)},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "responses": _responses(_ANSWER, ("400", "401", "403", "404", "409", "503", "504")),
    }


def operations() -> set[tuple[str, str]]:
    """Every (method, path) of the document, paths below ``/api/v1``."""
    return {(r.method, r.path) for r in ROUTES} | {("post", COMMAND_PATH)}


def document() -> Schema:
    paths: dict[str, Schema] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    paths[COMMAND_PATH] = {"post": _command_operation()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "edge_controller site API", "version": __version__},
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
    }
