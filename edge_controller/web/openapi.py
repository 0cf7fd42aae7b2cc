"""The OpenAPI 3.1 document of ``/api/v1``. ``PATHS`` is what ``web.api`` serves (it refuses
to start otherwise) and a test asks every path of the document from the running daemon."""

from __future__ import annotations

from typing import Any

from edge_controller import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}
_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
}
_OPEN = {"name": "open", "in": "query", "required": False, "schema": {"type": "boolean"}}
_CONNECTOR = {"name": "connector_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SESSION = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "integer"}}

# path -> (summary, response type, parameters)
PATHS: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "/state": ("The whole site's live status view (as `edge-controller status --json`)",
               "object", []),
    "/connectors": ("Every connector's live state", "array", []),
    "/connectors/{connector_id}": ("One connector's live state", "object", [_CONNECTOR]),
    "/devices": ("Every bus device and card reader with its health", "array", []),
    "/meter": ("The grid meter's latest reading", "object", []),
    "/limits": ("The grid limit, the headroom and each connector's current with its reason",
                "object", []),
    "/sessions": ("The latest sessions, newest first (id tags masked)", "array", [_LIMIT]),
    "/sessions/{session_id}/receipt": ("The receipt of a finished session (as "
                                       "`edge-controller sessions receipt`)", "object", [_SESSION]),
    "/problems": ("Problem reports, newest first", "array", [_LIMIT, _OPEN]),
}  # fmt: skip


COMMAND_PATH = "/commands/{name}"
COMMAND_NAMES = ("site_limit", "connector_limit", "connector_enabled", "session_start",
                 "session_stop")  # fmt: skip
_COMMAND = {
    "post": {
        "summary": "Send a command to the site's command port: the body is the MQTT command's"
        " payload (docs/mqtt.md); starts are authorised like cards. Only the commands of the"
        " token's allowed_commands",
        "parameters": [
            {"name": "name", "in": "path", "required": True,
             "schema": {"type": "string", "enum": list(COMMAND_NAMES)}},
        ],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "200": {"description": "done",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            **{
                status: {"description": why, "content": {"application/json": {"schema": _ERROR}}}
                for status, why in (
                    ("400", "the payload is wrong"), ("401", "no valid token"),
                    ("403", "the token may not send this command"), ("404", "no such command"),
                    ("409", "the site refused the command"), ("504", "no answer in time"),
                )
            },
        },
    }
}  # fmt: skip


def _operation(summary: str, kind: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": {"type": kind}}}},
        "401": {
            "description": "no valid token",
            "content": {"application/json": {"schema": _ERROR}},
        },
    }
    if parameters:
        responses["400"] = {
            "description": "a parameter is wrong",
            "content": {"application/json": {"schema": _ERROR}},
        }
    if any(p["in"] == "path" for p in parameters):
        responses["404"] = {
            "description": "no such item",
            "content": {"application/json": {"schema": _ERROR}},
        }
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "edge_controller site API", "version": __version__},
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "paths": {
            **{path: _operation(*spec) for path, spec in PATHS.items()},
            COMMAND_PATH: _COMMAND,
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        },
    }
