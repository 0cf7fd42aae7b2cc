"""The web server: one aiohttp application for the site display (and, on the same port, the
REST API and metrics), run as a daemon service.

Every response carries a strict Content-Security-Policy (our own scripts and styles only; a
page may set a stricter one of its own);
every client address has a request budget per minute (429 beyond); bodies over
``web.max_body_bytes`` are refused (413)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from edge_controller.api.jobs import CommissioningRuns
from edge_controller.config.settings import WebSettings
from edge_controller.domain.latency import Histogram
from edge_controller.log import get_logger
from edge_controller.web.api import ApiRoutes
from edge_controller.web.console import Console
from edge_controller.web.console_commissioning import ConsoleCommissioning
from edge_controller.web.console_reports import ConsoleReports
from edge_controller.web.console_system import ConsoleSystem, ErrorHistory
from edge_controller.web.display import DisplayHub, DisplayRoutes
from edge_controller.web.display_code import CodeRoutes
from edge_controller.web.display_pay import PayRoutes
from edge_controller.web.limits import RateLimit
from edge_controller.web.metrics import BusLatency, MetricsRoute
from edge_controller.web.ports import (
    CommandPayloads,
    CommandPort,
    HeldForOperator,
    ProblemDesk,
    SessionHistory,
)
from edge_controller.web.problems import ProblemRoutes

log = get_logger("web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make a form's Origin "null"
}
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}
REQUEST_BUDGET_KEY = "edge_controller.web.requests"


def client_key(request: web.Request) -> str:
    """The client's address (the server is reached directly, not through a proxy)."""
    return request.remote or "unknown"


def _static_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("edge_controller.web") / "static"
    files = {}
    for entry in folder.iterdir():
        suffix = Path(entry.name).suffix
        if suffix in STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return files


def _static_handler(files: dict[str, tuple[bytes, str]]) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        found = files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(
            body=body, content_type=content_type, headers={"Cache-Control": "max-age=300"}
        )

    return serve


def _harden(headers: MutableMapping[str, str]) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)  # a page may tighten its own policy


def _middlewares(budget: RateLimit) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    @web.middleware
    async def limit_and_harden(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not budget.allow(client_key(request), time.monotonic()):
            response: web.StreamResponse = web.json_response(
                {"code": "too_many_requests", "message": "request budget exceeded"}, status=429
            )
            response.headers["Retry-After"] = "60"
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                _harden(exc.headers)
                raise  # aiohttp answers a raised one (returning it is deprecated)
        _harden(response.headers)
        return response

    return [limit_and_harden]


@dataclass(frozen=True, slots=True)
class Sources:
    """What the pages and the API read, beside the live view."""

    desk: ProblemDesk
    sessions: SessionHistory
    limits: Mapping[str, Any]  # configured limits per connector (min/max current)
    commands: CommandPort
    payloads: CommandPayloads  # the payload rules MQTT commands follow, for the REST API
    held: HeldForOperator | None = None  # what waits for an operator, listed in the console
    checks: tuple[str, ...] = ()  # check-config's lines for the running config
    reactions: Histogram | None = None  # the control loop's overload reactions, for /metrics
    bus_latency: BusLatency | None = None  # the buses' request durations, for /metrics
    device_errors: ErrorHistory | None = None  # buses' and readers' last error events per device
    runs: CommissioningRuns | None = None  # the daemon's scan and selftest, for the console
    scan_buses: tuple[str, ...] = ()  # the buses a scan may go through


def build_app(settings: WebSettings, hub: DisplayHub, sources: Sources) -> web.Application:
    budget = RateLimit(settings.requests_per_minute, 60.0)
    tokens = {name: t.token.get_secret_value() for name, t in settings.api_tokens.items()}
    allowed = {name: tuple(t.allowed_commands) for name, t in settings.api_tokens.items()}
    api = ApiRoutes(
        hub, sources.desk, sources.sessions, tokens, sources.limits,
        commands=sources.commands, payloads=sources.payloads, allowed=allowed,
        errors=sources.device_errors,
    )  # fmt: skip
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[*_middlewares(budget), api.middleware],
    )
    ProblemRoutes(hub, sources.desk, settings.reports_per_hour).add_to(app)  # before /display/{id}
    PayRoutes(hub, sources.commands).add_to(app)  # before /display/{connector} too
    CodeRoutes(hub, sources.commands).add_to(app)
    DisplayRoutes(hub).add_to(app)
    api.add_to(app)
    MetricsRoute(hub.view, sources.desk, tokens, sources.reactions, sources.bus_latency).add_to(app)
    accounts = {
        user: (a.role, a.password_hash.get_secret_value()) for user, a in settings.accounts.items()
    }
    console = Console(
        hub, sources.commands, sources.desk, accounts, settings.tls, sessions=sources.sessions,
        held=sources.held,
    )  # fmt: skip
    console.add_to(app)
    known = hub.setup.connectors
    ConsoleReports(
        sources.sessions, console.viewer,
        lambda: known or tuple(c.connector_id for c in hub.view().connectors),
    ).add_to(app)  # fmt: skip
    ConsoleSystem(
        console.viewer, lambda: hub.view().devices, sources.checks, sources.device_errors,
        gateway_faults=lambda: hub.view().gateway_faults,
    ).add_to(app)  # fmt: skip
    if sources.runs is not None:
        ConsoleCommissioning(
            console.viewer, console.operator, sources.runs, sources.scan_buses, console.logged_in
        ).add_to(app)
    app.router.add_get("/static/{name}", _static_handler(_static_files()))
    app.router.add_get("/", _to_display)
    return app


async def _to_display(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/display")


def tls_context(settings: WebSettings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


def urls(settings: WebSettings) -> dict[str, str]:
    """Where each face is served (for logs and ``make run``)."""
    scheme = "https" if settings.tls else "http"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"{scheme}://{host}:{settings.port}"
    return {
        "display": f"{base}/display",
        "api": f"{base}/api/v1/openapi.json",
        "metrics": f"{base}/metrics",
        "console": f"{base}/console",
    }


class WebServer:
    """The daemon service: serves the application until cancelled."""

    def __init__(self, settings: WebSettings, hub: DisplayHub, app: web.Application) -> None:
        self._settings, self._hub, self._app = settings, hub, app

    async def run(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(
                runner,
                self._settings.host,
                self._settings.port,
                ssl_context=tls_context(self._settings),
                reuse_address=True,
            )
            await site.start()
            log.info("web serving", **urls(self._settings))
            await self._hub.run()
        finally:
            await runner.cleanup()
