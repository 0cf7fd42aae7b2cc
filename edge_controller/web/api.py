"""The REST API, ``/api/v1``: state, connectors, devices, meter, limits, sessions and their
receipts, problem reports; and commands (``POST /api/v1/commands/<name>``) for the tokens whose
``allowed_commands`` name them, through the one command port (origin ``web``).

Every request needs a token (``Authorization: Bearer <token>``, one of ``web.api_tokens``):
401 without one or with a wrong one. Errors are JSON: ``{"code": ..., "message": ...}``.
``/api/v1/openapi.json`` (no token) describes exactly what is served."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from edge_controller.api.codec import site_to_json
from edge_controller.domain.problems import FiledReport
from edge_controller.log import get_logger
from edge_controller.web.display import DisplayHub
from edge_controller.web.openapi import COMMAND_NAMES, COMMAND_PATH, PATHS, document
from edge_controller.web.ports import CommandPayloads, CommandPort, ProblemDesk, SessionHistory

log = get_logger("web.api")

PREFIX = "/api/v1"
MAX_LIMIT = 1000
COMMAND_TIMEOUT_S = 10.0
TOKEN_KEY = "edge_controller.api.token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def token_name(request: web.Request, tokens: Mapping[str, str]) -> str | None:
    """The name of the token the request carries, or None (compared in constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return None
    found = None
    for name, token in tokens.items():
        if hmac.compare_digest(given.strip().encode(), token.encode()):
            found = name
    return found


def _limit(request: web.Request, default: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def session_number(raw: str) -> bool:
    """A session id as a path gives it: ASCII digits that fit SQLite's integer."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def problem_json(filed: FiledReport) -> dict[str, Any]:
    r = filed.report
    return {
        "reference": filed.reference,
        "connector_id": r.connector_id,
        "kind": r.kind.value,
        "text": r.text,
        "source": r.source,
        "state": filed.state.value,
        "filed_at_s": filed.filed_at_s,
        "handled_by": None if filed.handling is None else filed.handling.by,
        "handled_at_s": None if filed.handling is None else filed.handling.at_s,
        "note": None if filed.handling is None else filed.handling.note,
    }


class ApiRoutes:
    def __init__(
        self,
        hub: DisplayHub,
        desk: ProblemDesk,
        sessions: SessionHistory,
        tokens: Mapping[str, str],
        limits: Mapping[str, Any],
        *,
        commands: CommandPort,
        payloads: CommandPayloads,
        allowed: Mapping[str, tuple[str, ...]],  # token name -> the commands it may send
    ) -> None:
        self._hub, self._desk, self._sessions = hub, desk, sessions
        self._tokens, self._limits = dict(tokens), limits
        self._commands, self._payloads, self._allowed = commands, payloads, dict(allowed)

    def add_to(self, app: web.Application) -> None:
        handlers: dict[str, Handler] = {
            "/state": self.state,
            "/connectors": self.connectors,
            "/connectors/{connector_id}": self.connector,
            "/devices": self.devices,
            "/meter": self.meter,
            "/limits": self.limits,
            "/sessions": self.sessions,
            "/sessions/{session_id}/receipt": self.receipt,
            "/problems": self.problems,
        }
        if set(handlers) != set(PATHS):
            raise RuntimeError("the OpenAPI document must list exactly what is served")
        for path, handler in handlers.items():
            app.router.add_get(PREFIX + path, handler)
        app.router.add_post(PREFIX + COMMAND_PATH, self.command)
        app.router.add_get(PREFIX + "/openapi.json", self.openapi)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Tokens and JSON errors for everything under /api/v1."""
        if not request.path.startswith(PREFIX + "/"):
            return await handler(request)
        if request.path != PREFIX + "/openapi.json":
            name = token_name(request, self._tokens)
            if name is None:
                response = error(401, "unauthorized", "a valid API token is needed")
                response.headers["WWW-Authenticate"] = 'Bearer realm="edge-controller"'
                return response
            request[TOKEN_KEY] = name
        try:
            return await handler(request)
        except web.HTTPException as exc:
            code = exc.reason.lower().replace(" ", "_")
            message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else code
            return error(exc.status, code, message or code)

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(document())

    async def state(self, _request: web.Request) -> web.Response:
        return web.json_response(site_to_json(self._hub.view()))

    async def connectors(self, _request: web.Request) -> web.Response:
        return web.json_response(site_to_json(self._hub.view())["connectors"])

    async def connector(self, request: web.Request) -> web.Response:
        cid = request.match_info["connector_id"]
        for found in site_to_json(self._hub.view())["connectors"]:
            if found["connector_id"] == cid:
                return web.json_response(found)
        return error(404, "unknown_connector", f"no connector {cid!r} at this site")

    async def devices(self, _request: web.Request) -> web.Response:
        return web.json_response(site_to_json(self._hub.view())["devices"])

    async def meter(self, _request: web.Request) -> web.Response:
        shown = site_to_json(self._hub.view())
        keys = (
            "grid_current_a", "grid_voltage_v", "grid_power_w", "grid_import_energy_wh",
            "grid_export_energy_wh", "grid_reading_age_s", "at_s",
        )  # fmt: skip
        return web.json_response({k: shown[k] for k in keys})

    async def limits(self, _request: web.Request) -> web.Response:
        view = self._hub.view()
        connectors = [
            {
                "connector_id": c.connector_id,
                "offered_current_a": c.offered_current_a,
                "limit_reason": c.limit_reason,
                **self._limits.get(c.connector_id, {}),
            }
            for c in view.connectors
        ]
        headroom = None if view.headroom_a is None else list(view.headroom_a)
        return web.json_response(
            {
                "grid_limit_a": view.grid_limit_a,
                "headroom_a": headroom,
                "connectors": connectors,
                "at_s": view.at_s,
            }
        )

    async def sessions(self, request: web.Request) -> web.Response:
        return web.json_response(await self._sessions.recent(_limit(request, 50)))

    async def receipt(self, request: web.Request) -> web.Response:
        raw = request.match_info["session_id"]
        found = await self._sessions.receipt(int(raw)) if session_number(raw) else None
        if found is None:
            return error(404, "unknown_session", f"no finished session {raw[:20]!r}")
        return web.json_response(found)

    async def command(self, request: web.Request) -> web.Response:
        name, token = request.match_info["name"], request[TOKEN_KEY]
        if name not in COMMAND_NAMES:
            return error(404, "unknown_command", f"known: {', '.join(COMMAND_NAMES)}")
        if name not in self._allowed.get(token, ()):
            log.warning("api command refused: not allowed", token=token, command=name)
            return error(403, "forbidden", f"this token may not send {name!r} "
                         f"(web.api_tokens.{token}.allowed_commands)")  # fmt: skip
        connectors = self._hub.setup.connectors or tuple(
            c.connector_id for c in self._hub.view().connectors
        )
        parsed = self._payloads(name, await request.read(), connectors)  # bounded by max_size
        if parsed.command is None:
            return error(400, "invalid_command", parsed.error or "invalid command")
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                result = await self._commands.decide(parsed.command)
        except TimeoutError:
            message = f"no answer within {COMMAND_TIMEOUT_S:g} s; it may still be applied"
            return error(504, "timeout", message)
        log.info(
            "api command", token=token, command=repr(parsed.command), ok=result.ok,
            error=result.error,
        )  # fmt: skip
        if not result.ok:
            return error(409, "command_refused", result.error or "refused")
        answer = {"ok": True, "request_id": parsed.request_id, "connector_id": result.connector_id}
        return web.json_response(answer)

    async def problems(self, request: web.Request) -> web.Response:
        open_only = request.query.get("open", "false").lower() in ("1", "true", "yes")
        found = await self._desk.recent(_limit(request, 100), open_only)
        return web.json_response([problem_json(f) for f in found])
