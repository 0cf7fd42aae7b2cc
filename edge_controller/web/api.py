"""The REST API, ``/api/v1``: state, connectors, devices, meter, limits, sessions and their
receipts, problem reports; and writes for the tokens whose ``allowed_commands`` name their
command: one route per resource (``PUT /api/v1/connectors/<id>/limit``, ``POST .../start``, ...)
and ``POST /api/v1/commands/<name>`` with MQTT's payloads, all read by MQTT's payload rules and
sent through the one command port (origin ``web``), so every entry point gets the same answer.

Every request needs a token (``Authorization: Bearer <token>``, one of ``web.api_tokens``):
401 without one or with a wrong one. Errors are JSON: ``{"code": ..., "message": ...}``.
``/api/v1/openapi.json`` (no token) describes exactly what is served."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from edge_controller.api.codec import site_to_json
from edge_controller.domain.problems import NOTED, ChangeRefused, FiledReport
from edge_controller.domain.snapshot import ErrorEvent
from edge_controller.log import get_logger
from edge_controller.web.console_system import ErrorHistory
from edge_controller.web.display import DisplayHub
from edge_controller.web.openapi import (
    COMMAND_NAMES,
    COMMAND_PATH,
    METER_KEYS,
    OPTIONAL_BODIES,
    PROBLEMS,
    ROUTES,
    Route,
    document,
    operations,
)
from edge_controller.web.ports import CommandPayloads, CommandPort, ProblemDesk, SessionHistory

log = get_logger("web.api")

PREFIX = "/api/v1"
MAX_LIMIT = 1000
COMMAND_TIMEOUT_S = 10.0
# A payment waits on the driver at the terminal, then on the plug-in (the terminal's and the
# payment flow's own timeouts end it first); the port finishes it even if this answer is late.
PAY_TIMEOUT_S = 600.0
MAX_PAYMENTS_IN_FLIGHT = 16
TOKEN_KEY = web.RequestKey("edge_controller.api.token", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _event(event: ErrorEvent) -> dict[str, Any]:
    return {"at_s": event.at_s, "kind": event.kind, "message": event.message}


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
        "notes": [
            {"action": h.action, "by": h.by, "at_s": h.at_s, "note": h.note} for h in filed.history
        ],
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
        errors: ErrorHistory | None = None,  # each device's last error events, newest first
    ) -> None:
        self._hub, self._desk, self._sessions = hub, desk, sessions
        self._tokens, self._limits = dict(tokens), limits
        self._commands, self._payloads, self._allowed = commands, payloads, dict(allowed)
        self._errors = errors
        self._paying = 0

    def add_to(self, app: web.Application) -> None:
        reads: dict[str, Handler] = {
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
        served = {("get", path) for path in reads} | {("post", COMMAND_PATH)}
        for route in ROUTES:
            if route.writes:
                write = self._write(route) if route.command else self._problem_change(route)
                app.router.add_route(route.method.upper(), PREFIX + route.path, write)
                served.add((route.method, route.path))
        if served != operations():
            raise RuntimeError("the OpenAPI document must list exactly what is served")
        for path, handler in reads.items():
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
        return _no_connector(cid)

    async def devices(self, _request: web.Request) -> web.Response:
        history = self._errors() if self._errors is not None else {}
        return web.json_response(
            [
                d | {"error_history": [_event(e) for e in history.get(d["device_id"], ())]}
                for d in site_to_json(self._hub.view())["devices"]
            ]
        )

    async def meter(self, _request: web.Request) -> web.Response:
        shown = site_to_json(self._hub.view())
        return web.json_response({k: shown[k] for k in METER_KEYS})

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

    async def problems(self, request: web.Request) -> web.Response:
        open_only = request.query.get("open", "false").lower() in ("1", "true", "yes")
        found = await self._desk.recent(_limit(request, 100), open_only)
        return web.json_response([problem_json(f) for f in found])

    async def command(self, request: web.Request) -> web.Response:
        """``POST /commands/<name>``: the body is the MQTT command's payload."""
        name = request.match_info["name"]
        if name not in COMMAND_NAMES:
            return error(404, "unknown_command", f"known: {', '.join(COMMAND_NAMES)}")
        return self._refused(request, name) or await self._send(request, name, await request.read())

    def _write(self, route: Route) -> Handler:
        """The handler of a resource's write: the path's connector and fixed fields joined to
        the body make the MQTT command's payload."""
        assert route.command is not None
        name = route.command

        async def write(request: web.Request) -> web.Response:
            refused = self._refused(request, name)
            if refused is not None:
                return refused
            fields = dict(route.fixed)
            cid = request.match_info.get("connector_id")
            if cid is not None:
                if cid not in self._connector_ids():
                    return _no_connector(cid)
                fields["connector"] = cid
            raw = await request.read()  # bounded by max_size
            given, why = _body_object(raw, required=route.body not in OPTIONAL_BODIES)
            if given is None or set(given) & set(fields):
                why = why or f"{', '.join(sorted(set(fields)))}: given by the path"
                return error(400, "invalid_command", f"invalid payload: {why}")
            return await self._send(request, name, json.dumps(given | fields).encode())

        return write

    def _problem_change(self, route: Route) -> Handler:
        """The handler of a problem report's acknowledgement, resolution or note: the desk's
        one rule and records, as the console's (``by``: ``token:<name>``)."""
        assert route.handles is not None
        wanted = route.handles

        async def change(request: web.Request) -> web.Response:
            refused = self._refused(request, PROBLEMS)
            if refused is not None:
                return refused
            raw_reference = request.match_info["reference"]
            number = report_number(raw_reference)
            given, why = _body_object(await request.read(), required=wanted == NOTED)
            note = None if given is None else given.get("note", "")
            if given is not None and (set(given) - {"note"} or not isinstance(note, str)):
                why = "the body may hold only a note (a string)"
            if why is not None or not isinstance(note, str):
                return error(400, "invalid_body", why or "invalid body")
            by = f"token:{request[TOKEN_KEY]}"
            try:
                done = None if number is None else await self._desk.handle(number, wanted, by, note)
            except ChangeRefused as exc:
                log.info("api change refused", token=by, report=raw_reference[:20], reason=str(exc))
                return error(409, "change_refused", str(exc))
            if done is None:
                return error(404, "unknown_problem", f"no problem report {raw_reference[:20]!r}")
            log.info("api change", token=by, report=done.reference, action=wanted)
            return web.json_response(problem_json(done))

        return change

    def _connector_ids(self) -> tuple[str, ...]:
        return self._hub.setup.connectors or tuple(
            c.connector_id for c in self._hub.view().connectors
        )

    def _refused(self, request: web.Request, name: str) -> web.Response | None:
        """403 unless the request's token may send command ``name`` (or change ``PROBLEMS``)."""
        token = request[TOKEN_KEY]
        if name in self._allowed.get(token, ()):
            return None
        log.warning("api command refused: not allowed", token=token, command=name)
        verb = "change" if name == PROBLEMS else "send"
        return error(403, "forbidden", f"this token may not {verb} {name!r} "
                     f"(web.api_tokens.{token}.allowed_commands)")  # fmt: skip

    async def _send(self, request: web.Request, name: str, raw: bytes) -> web.Response:
        """Read ``raw`` as command ``name``'s payload and hand it to the command port."""
        parsed = self._payloads(name, raw, self._connector_ids())
        if parsed.command is None:
            return error(400, "invalid_command", parsed.error or "invalid command")
        paying = name == "pay"
        if paying and self._paying >= MAX_PAYMENTS_IN_FLIGHT:
            return error(503, "busy", "too many payments in progress")
        timeout_s = PAY_TIMEOUT_S if paying else COMMAND_TIMEOUT_S
        self._paying += int(paying)
        try:
            async with asyncio.timeout(timeout_s):
                result = await self._commands.decide(parsed.command)
        except TimeoutError:
            return error(
                504, "timeout", f"no answer within {timeout_s:g} s; it may still be applied"
            )
        finally:
            self._paying -= int(paying)
        log.info(
            "api command", token=request[TOKEN_KEY], command=repr(parsed.command), ok=result.ok,
            error=result.error,
        )  # fmt: skip
        if not result.ok:
            return error(409, "command_refused", result.error or "refused")
        answer = {"ok": True, "request_id": parsed.request_id, "connector_id": result.connector_id}
        return web.json_response(answer)


def report_number(raw: str) -> int | None:
    """The row number of a report's reference as a path gives it (``P-000012``), or None."""
    digits = raw.removeprefix("P-")
    return int(digits) if digits != raw and session_number(digits) else None


def _no_connector(cid: str) -> web.Response:
    return error(404, "unknown_connector", f"no connector {cid[:80]!r} at this site")


def _body_object(raw: bytes, *, required: bool) -> tuple[dict[str, Any] | None, str | None]:
    """The body as a JSON object (an empty optional body: ``{}``), or None and why not."""
    if not raw.strip() and not required:
        return {}, None
    try:
        found = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, "the body is not JSON"
    if not isinstance(found, dict):
        return None, "the body must be a JSON object"
    return found, None
