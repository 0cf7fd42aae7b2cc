"""The operator console, ``/console``: log in, see the site, problem reports and sessions with
their receipts, acknowledge, resolve and note on problem reports, set connector and site limits
and take connectors out of service.

Logins: accounts from ``web.accounts`` (scrypt hashes), a session cookie that is HttpOnly,
SameSite=Strict, limited to /console and Secure under TLS; every change needs the session's CSRF
token and a same-site Origin; a viewer may look only; five failed logins lock a user name and a
client address for 15 minutes. Every change goes through the one command port (the same rule as
MQTT and the CSMS) and is logged with who made it."""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from aiohttp import web

from edge_controller.domain.commands import (
    Command,
    Origin,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
)
from edge_controller.domain.pricing.receipt import receipt_html
from edge_controller.domain.problems import NOTED, ChangeRefused, FiledReport, ProblemState
from edge_controller.log import get_logger
from edge_controller.web.api import problem_json, session_number
from edge_controller.web.console_live import (
    PARKED_LISTED,
    ConsoleLive,
    children_table,
    connector_cells,
    held_section,
    shown,
    site_line,
)
from edge_controller.web.display import DisplayHub
from edge_controller.web.login import ConsoleSession, Lockout, SessionBook
from edge_controller.web.pages import page
from edge_controller.web.passwords import verify_password
from edge_controller.web.ports import CommandPort, HeldForOperator, ProblemDesk, SessionHistory
from edge_controller.web.problems import same_origin

log = get_logger("web.console")

COOKIE = "edge_console"
LOGIN_COOKIE = "edge_console_login"  # double-submit token of the login form
HTML = "text/html"
# The receipt is one page with its style inside and no scripts.
RECEIPT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def _notes(filed: FiledReport) -> str:
    """Every acknowledgement, resolution and note of a report, first first (the last one's
    note alone when its history was not read)."""
    if not filed.history:
        return "" if filed.handling is None else escape(filed.handling.note)
    return "<br>".join(
        escape(f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(h.at_s))} {h.by} {h.action}"
               + (f": {h.note}" if h.note else ""))
        for h in filed.history
    )  # fmt: skip


def _td(value: Any) -> str:
    return f"<td>{escape(shown(value))}</td>"


class Console:
    def __init__(
        self,
        hub: DisplayHub,
        commands: CommandPort,
        desk: ProblemDesk,
        accounts: Mapping[str, tuple[str, str]],  # user -> (role, password hash)
        secure_cookie: bool,
        *,
        sessions: SessionHistory,
        held: HeldForOperator | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``held``: what waits for an operator (none listed without it)."""
        self._hub, self._commands, self._desk = hub, commands, desk
        self._history, self._held = sessions, held
        self._accounts, self._secure, self._clock = dict(accounts), secure_cookie, clock
        self._sessions, self._lockout = SessionBook(), Lockout()

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/console", self.home)
        app.router.add_get("/console/login", self.login_form)
        app.router.add_post("/console/login", self.login)
        app.router.add_post("/console/logout", self.logout)
        app.router.add_post("/console/site/limit", self.site_limit)
        app.router.add_post("/console/connectors/{connector_id}/limit", self.connector_limit)
        app.router.add_post("/console/connectors/{connector_id}/enabled", self.enabled)
        app.router.add_get("/console/sessions/{session_id}/receipt", self.receipt)
        app.router.add_post("/console/problems/{number}/state", self.problem_state)
        app.router.add_post("/console/outbox/requeue", self.requeue)
        app.router.add_get("/console/held", self.held)
        ConsoleLive(self._hub, self._session).add_to(app)

    # --- login --------------------------------------------------------------------------------

    def _cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/console", httponly=True,
            secure=self._secure, samesite="Strict",
        )  # fmt: skip

    async def login_form(self, _request: web.Request, error: str | None = None) -> web.Response:
        token = secrets.token_urlsafe(24)
        problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
        body = (
            f"<header><h1>Operator console</h1></header><main>{problem}"
            '<form method="post" action="/console/login">'
            f'<input type="hidden" name="csrf" value="{token}">'
            '<label for="user">User</label><input id="user" name="user" required '
            'autocomplete="username">'
            '<label for="password">Password</label><input id="password" name="password" '
            'type="password" required autocomplete="current-password">'
            '<button type="submit">Log in</button></form></main>'
        )
        response = web.Response(text=page("en", "Log in", body), content_type=HTML,
                                status=401 if error else 200)  # fmt: skip
        self._cookie(response, LOGIN_COOKIE, token, 600)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        if not same_origin(request):
            raise web.HTTPForbidden(text="the login form must be sent from this site")
        form = await request.post()
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(str(form.get("csrf", "")), expected):
            raise web.HTTPForbidden(text="the login form has expired; load it again")
        now_s, client = self._clock(), f"client:{request.remote}"
        keys = (f"user:{user}", client)
        if any(self._lockout.locked(k, now_s) for k in keys):
            log.warning("console login refused: locked", user=user, client=request.remote)
            return await self.login_form(request, "Too many failed logins: try again later.")
        account = self._accounts.get(user)
        ok = account is not None and await asyncio.to_thread(verify_password, password, account[1])
        if not ok or account is None:
            for key in keys:
                self._lockout.failed(key, now_s)
            log.warning("console login failed", user=user, client=request.remote)
            return await self.login_form(request, "Wrong user or password.")
        for key in keys:
            self._lockout.succeeded(key)
        sid, _ = self._sessions.open(user, account[0], now_s)
        log.info("console login", user=user, role=account[0], client=request.remote)
        response = web.HTTPSeeOther("/console")
        self._cookie(response, COOKIE, sid, 8 * 3600)
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session = await self._changing(request, need_operator=False)
        self._sessions.close(request.cookies.get(COOKIE))
        log.info("console logout", user=session.user)
        response = web.HTTPSeeOther("/console/login")
        response.del_cookie(COOKIE, path="/console")
        raise response

    def _session(self, request: web.Request) -> ConsoleSession | None:
        return self._sessions.get(request.cookies.get(COOKIE), self._clock())

    def logged_in(self, request: web.Request) -> ConsoleSession | None:
        """The request's console session, None without a login (for a stream that ends)."""
        return self._session(request)

    def viewer(self, request: web.Request) -> ConsoleSession:
        """The logged-in session of a page that only shows (to the login without one)."""
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/console/login")
        return session

    async def operator(self, request: web.Request) -> ConsoleSession:
        """The session of an operator's change (logged in, same-site, CSRF, operator role)."""
        return await self._changing(request)

    async def _changing(self, request: web.Request, need_operator: bool = True) -> ConsoleSession:
        """The session of a change: logged in, same-site, the session's CSRF token, and the
        operator role where the change needs it."""
        session = self._session(request)
        if session is None:
            raise web.HTTPUnauthorized(text="log in first")
        if not same_origin(request):
            raise web.HTTPForbidden(text="changes must be sent from this site")
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
        if need_operator and not session.may_change:
            log.warning("console change refused: viewer", user=session.user, path=request.path)
            raise web.HTTPForbidden(text="viewers cannot change anything")
        return session

    # --- changes ------------------------------------------------------------------------------

    async def _submit(self, session: ConsoleSession, command: Command) -> web.StreamResponse:
        result = await self._commands.decide(command)
        log.info(
            "operator change", user=session.user, command=repr(command), ok=result.ok,
            error=result.error,
        )  # fmt: skip
        if not result.ok:
            raise web.HTTPBadRequest(text=result.error or "refused")
        raise web.HTTPSeeOther("/console")

    @staticmethod
    async def _current(request: web.Request) -> float | None:
        raw = str((await request.post()).get("current_a", "")).strip()
        if raw == "":
            return None  # lifts the limit
        try:
            value = float(raw)
        except ValueError:
            raise web.HTTPBadRequest(text=f"not a current: {raw[:20]!r}") from None
        if not math.isfinite(value) or not 0 <= value <= 6300:
            raise web.HTTPBadRequest(text="the current must be 0 to 6300 A")
        return value

    def _known(self, cid: str) -> str:
        if cid not in {c.connector_id for c in self._hub.view().connectors}:
            raise web.HTTPNotFound(text=f"no connector {cid!r}")
        return cid

    async def connector_limit(self, request: web.Request) -> web.StreamResponse:
        session = await self._changing(request)
        cid = self._known(request.match_info["connector_id"])
        command = SetConnectorLimit(cid, await self._current(request), Origin.WEB)
        return await self._submit(session, command)

    async def site_limit(self, request: web.Request) -> web.StreamResponse:
        session = await self._changing(request)
        return await self._submit(session, SetSiteLimit(await self._current(request), Origin.WEB))

    async def enabled(self, request: web.Request) -> web.StreamResponse:
        session = await self._changing(request)
        cid = self._known(request.match_info["connector_id"])
        wanted = str((await request.post()).get("enabled", "")) == "true"
        return await self._submit(session, SetConnectorEnabled(cid, wanted, Origin.WEB))

    async def problem_state(self, request: web.Request) -> web.StreamResponse:
        """Acknowledge or resolve a problem report with a note, or add a note alone; who and when
        are recorded, every one kept."""
        session = await self._changing(request)
        raw = request.match_info["number"]
        form = await request.post()
        wanted, note = str(form.get("state", "")), str(form.get("note", ""))
        try:
            handled = (
                await self._desk.handle(int(raw), wanted, session.user, note)
                if session_number(raw) else None
            )  # fmt: skip
        except ChangeRefused as exc:
            log.info("operator change refused", user=session.user, report=raw, reason=str(exc))
            raise web.HTTPConflict(text=str(exc)) from None
        if handled is None:
            raise web.HTTPNotFound(text=f"no problem report {raw[:20]!r}")
        log.info("operator change", user=session.user, report=handled.reference, state=wanted)
        raise web.HTTPSeeOther("/console")

    async def requeue(self, request: web.Request) -> web.StreamResponse:
        """Put one parked outbox message (``seq``) or all (``all=true``) back in line."""
        session = await self._changing(request)
        if self._held is None:
            raise web.HTTPNotFound(text="nothing is held here")
        form = await request.post()
        raw = str(form.get("seq", ""))
        every = str(form.get("all", "")) == "true"
        if every == bool(raw) or (raw and not session_number(raw)):
            raise web.HTTPBadRequest(text="give seq (a message's number) or all=true")
        try:
            seqs = await self._held.requeue(None if every else int(raw))
        except ValueError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        log.info("operator change", user=session.user, requeued=seqs)
        raise web.HTTPSeeOther("/console")

    async def _held_html(self, session: ConsoleSession) -> str:
        if self._held is None:
            return ""
        parked = await self._held.parked(PARKED_LISTED)
        unknown = await self._held.unknown_payments()
        return held_section(parked, unknown, session.csrf if session.may_change else None)

    async def held(self, request: web.Request) -> web.Response:
        """The lists alone, for the live page to refill when their counts change."""
        html = await self._held_html(self.viewer(request))
        return web.Response(text=html, content_type=HTML, headers={"Cache-Control": "no-store"})

    # --- sessions -----------------------------------------------------------------------------

    async def receipt(self, request: web.Request) -> web.StreamResponse:
        if self._session(request) is None:
            raise web.HTTPSeeOther("/console/login")
        raw = request.match_info["session_id"]
        found = await self._history.receipt(int(raw)) if session_number(raw) else None
        if found is None:
            raise web.HTTPNotFound(text=f"no finished session {raw[:20]!r}")
        headers = {"Cache-Control": "no-store", "Content-Security-Policy": RECEIPT_POLICY}
        return web.Response(text=receipt_html(found), content_type=HTML, headers=headers)

    async def _session_rows(self) -> str:
        rows = []
        for s in await self._history.recent(20):
            sid = s["session_id"]
            link = (
                "<td>running</td>" if s["stop_at_s"] is None
                else f'<td><a href="/console/sessions/{sid}/receipt">receipt</a></td>'
            )  # fmt: skip
            rows.append(
                f'<tr data-session="{sid}">{_td(sid)}{_td(s["connector_id"])}{_td(s["id_tag"])}'
                f"{_td(s['energy_wh'])}{_td(s['stop_reason'])}{link}</tr>"
            )
        return "".join(rows)

    # --- the page -----------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/console/login")
        view = self._hub.view()
        rows = "".join(self._connector_row(c, session) for c in view.connectors)
        problems = "".join(
            self._problem_row(f, session) for f in await self._desk.recent(50, False)
        )
        site_form = self._form("/console/site/limit", session, "Site limit A", "current_a")
        counts = f"{view.outbox_parked}/{view.payments_unknown}"
        body = (
            f"<header><h1>Console: {escape(view.site_id)}</h1>"
            '<span id="live" class="live" data-live="live" data-stale="not updating">live</span>'
            f"<span>{escape(session.user)} ({escape(session.role)})</span>"
            f'<form method="post" action="/console/logout">{self._csrf(session)}'
            '<button type="submit">Log out</button></form></header>'
            '<nav><a href="/console/sessions">Sessions</a> '
            '<a href="/console/revenue">Revenue</a> <a href="/console/system">System</a></nav>'
            '<main data-live="/console/live">'
            f"{site_line(view)}{site_form}"
            '<table id="connectors"><thead><tr><th>Connector</th><th>State</th>'
            "<th>Offered A</th><th>Reason</th><th>Power W</th><th>Session Wh</th>"
            f"<th>Change</th></tr></thead><tbody>{rows}</tbody></table>"
            f"{children_table(view)}"
            f'<div id="held" data-counts="{counts}">{await self._held_html(session)}</div>'
            '<h2>Problem reports</h2><table id="problems"><thead><tr><th>Reference</th>'
            "<th>Connector</th><th>Kind</th><th>Text</th><th>State</th><th>By</th>"
            "<th>When (UTC)</th><th>Note</th><th>Change</th></tr></thead>"
            f"<tbody>{problems}</tbody></table>"
            '<h2>Sessions</h2><table id="sessions"><thead><tr><th>Session</th>'
            "<th>Connector</th><th>Id tag</th><th>Energy Wh</th><th>Stop reason</th>"
            f"<th>Receipt</th></tr></thead><tbody>{await self._session_rows()}</tbody></table>"
            "</main>"
        )
        return web.Response(text=page("en", "Console", body, script="console.js"),
                            content_type=HTML, headers={"Cache-Control": "no-store"})  # fmt: skip

    @staticmethod
    def _csrf(session: ConsoleSession) -> str:
        return f'<input type="hidden" name="csrf" value="{escape(session.csrf)}">'

    def _form(self, action: str, session: ConsoleSession, label: str, name: str) -> str:
        if not session.may_change:
            return ""
        return (
            f'<form class="inline" method="post" action="{escape(action)}">{self._csrf(session)}'
            f'<label>{escape(label)} <input name="{name}" inputmode="decimal" size="5"></label>'
            '<button type="submit">Set</button></form>'
        )

    def _problem_row(self, filed: FiledReport, session: ConsoleSession) -> str:
        p = problem_json(filed)
        when = p["handled_at_s"]
        shown = None if when is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(when))
        cells = "".join(_td(p[k]) for k in ("reference", "connector_id", "kind", "text", "state"))
        cells += _td(p["handled_by"]) + _td(shown) + f"<td>{_notes(filed)}</td>"
        change = ""
        if session.may_change:
            buttons = "".join(
                f'<button type="submit" name="state" value="{s}">{label}</button>'
                for s, label in (("acknowledged", "Acknowledge"), ("resolved", "Resolve"),
                                 (NOTED, "Add note"))
                if s == NOTED or filed.state not in (ProblemState(s), ProblemState.RESOLVED)
            )  # fmt: skip
            change = (
                f'<form class="inline" method="post" action="/console/problems/{filed.number}'
                f'/state">{self._csrf(session)}<label>Note <input name="note" maxlength="500">'
                f"</label>{buttons}</form>"
            )
        return f'<tr data-problem="{escape(filed.reference)}">{cells}<td>{change}</td></tr>'

    def _connector_row(self, c: Any, session: ConsoleSession) -> str:
        cid = c.connector_id
        base = f"/console/connectors/{cid}"
        change = ""
        if session.may_change:
            enable = "false" if c.availability.value != "Unavailable" else "true"
            change = self._form(f"{base}/limit", session, "Limit A", "current_a") + (
                f'<form class="inline" method="post" action="{escape(base)}/enabled">'
                f'{self._csrf(session)}<input type="hidden" name="enabled" value="{enable}">'
                f'<button type="submit">{"Disable" if enable == "false" else "Enable"}</button>'
                "</form>"
            )
        cells = "".join(
            f'<td data-col="{name}">{escape(text)}</td>'
            for name, text in connector_cells(c).items()
        )
        return f'<tr data-connector="{escape(cid)}">{_td(cid)}{cells}<td>{change}</td></tr>'
