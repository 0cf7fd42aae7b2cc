"""The console's commissioning page, ``/console/commissioning``: a bus scan or the selftest
through the running daemon's own buses (the jobs the ``scan`` and ``selftest`` commands run
through the status socket, one at a time whoever starts them), with its progress while it runs
and the result, and the last few runs with who started them. The page stays live through
server-sent events (``/console/commissioning/events``, one per change of the runs, read by
``static/commissioning.js``); without scripts it reloads each second while a run goes on. Any
role sees it; only an operator starts one (CSRF), and every start is logged with who."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from html import escape
from typing import Any

from aiohttp import web

from edge_controller.api.jobs import Busy, CommissioningRuns, Run
from edge_controller.log import get_logger
from edge_controller.web.pages import page
from edge_controller.web.sse import Streams

log = get_logger("web.console")
PATH = "/console/commissioning"
MAX_STREAMS = 20  # open commissioning streams at once; more are refused (503)
HTML = "text/html"
NAV = (
    '<nav><a href="/console">Live site</a> <a href="/console/system">System</a> '
    f'<a href="{PATH}">Commissioning</a></nav>'
)


def _utc(at_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at_s))


def run_state(run: Run | None) -> str:
    if run is None:
        return "none"
    return "running" if run.finished_s is None else ("failed" if run.error else "done")


def progress_text(run: Run) -> str:
    return f"{run.done}/{run.total or '?'} " + (
        f"probes, {run.found} found" if run.kind == "scan" else f"stages, {run.found} items"
    )


def run_body(run: Run | None) -> str:
    """What ``#run`` holds: the current (or last) run, its progress and its result."""
    if run is None:
        return "<p>Nothing has run yet.</p>"
    head = f"{run.kind} started by {run.by} at {_utc(run.started_s)} UTC"
    parts = [
        f"<p>{escape(head)}: {run_state(run)}</p>",
        f'<p id="progress">{escape(progress_text(run))}</p>',
    ]
    if run.error is not None:
        parts.append(f'<p id="error" class="error">{escape(run.error)}</p>')
    if run.result is not None:
        text = json.dumps(run.result, indent=2, sort_keys=True)
        parts.append(f'<pre id="result">{escape(text)}</pre>')
    return "".join(parts)


def run_section(run: Run | None) -> str:
    return f'<section id="run" data-state="{run_state(run)}">{run_body(run)}</section>'


def runs_body(runs: Sequence[Run]) -> str:
    """What ``#runs`` holds: the last runs kept, newest first, with who started them."""
    if not runs:
        return ""
    rows = "".join(
        f'<tr data-state="{run_state(r)}"><td>{escape(r.kind)}</td><td>{escape(r.by)}</td>'
        f"<td>{_utc(r.started_s)}</td>"
        f"<td>{'' if r.finished_s is None else _utc(r.finished_s)}</td>"
        f"<td>{run_state(r)}</td><td>{escape(progress_text(r))}</td></tr>"
        for r in runs
    )
    return (
        "<h2>Recent runs (newest first)</h2><table><thead><tr><th>Job</th><th>Started by</th>"
        "<th>Started (UTC)</th><th>Ended (UTC)</th><th>State</th><th>Progress</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def update_event(runs: CommissioningRuns) -> bytes:
    """One server-sent event: the page's live parts, rendered as the page renders them."""
    run = runs.current
    data = {"state": run_state(run), "run": run_body(run), "runs": runs_body(runs.recent)}
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def start_forms(csrf: str, buses: Sequence[str]) -> str:
    hidden = f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
    options = "".join(f'<option value="{escape(b)}">{escape(b)}</option>' for b in buses)
    return (
        f'<form method="post" action="{PATH}/scan">{hidden}'
        f'<label>Bus <select name="bus">{options}</select></label> '
        '<label>Units <input name="units" value="1-247" maxlength="200"></label> '
        '<label>Timeout s <input name="timeout_s" value="0.3" maxlength="5"></label> '
        '<button type="submit">Scan the bus</button></form>'
        f'<form method="post" action="{PATH}/selftest">{hidden}'
        '<button type="submit">Run the selftest</button></form>'
    )


class ConsoleCommissioning:
    """``viewer`` checks the console login; ``operator`` checks a change's session (operator
    role, CSRF) and gives its user; ``runs``: the daemon's scan and selftest."""

    def __init__(
        self,
        viewer: Callable[[web.Request], Any],
        operator: Callable[[web.Request], Awaitable[Any]],
        runs: CommissioningRuns,
        buses: Sequence[str],
        logged_in: Callable[[web.Request], object | None],
    ) -> None:
        """``logged_in``: the request's session or None (the live stream ends at a logout)."""
        self._viewer, self._operator, self._runs = viewer, operator, runs
        self._buses = tuple(buses)
        self._logged_in = logged_in
        self._tasks: set[asyncio.Task[None]] = set()
        self.streams = Streams("commissioning", MAX_STREAMS)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.show)
        app.router.add_get(f"{PATH}/state", self.state)
        app.router.add_get(f"{PATH}/events", self.events)
        app.router.add_post(f"{PATH}/scan", self.scan)
        app.router.add_post(f"{PATH}/selftest", self.selftest)
        app.on_cleanup.append(self._stop)

    async def show(self, request: web.Request) -> web.Response:
        session = self._viewer(request)
        forms = start_forms(session.csrf, self._buses) if session.may_change else ""
        body = f'<header><h1>Commissioning</h1></header>{NAV}<main data-events="{PATH}/events">'
        body += f"{forms}{run_section(self._runs.current)}"
        body += f'<section id="runs">{runs_body(self._runs.recent)}</section></main>'
        refresh = 1 if self._runs.running else None
        html = page(
            "en", "Commissioning", body, "commissioning.js", refresh, refresh_without_script=True
        )
        return web.Response(text=html, content_type=HTML, headers={"Cache-Control": "no-store"})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """The page's live parts at once, then again at every start, progress and end."""
        if self._logged_in(request) is None:
            raise web.HTTPUnauthorized(text="log in first")
        return await self.streams.serve(  # a logout ends it at the next change
            request,
            self._runs,
            lambda: update_event(self._runs),
            lasts=lambda: self._logged_in(request) is not None,
        )

    async def state(self, request: web.Request) -> web.Response:
        self._viewer(request)
        run = self._runs.current
        return web.json_response(None if run is None else dataclasses.asdict(run))

    async def scan(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        data: dict[str, Any] = {"bus": str(form.get("bus", "")), "units": str(form.get("units"))}
        try:
            data["timeout_s"] = float(str(form.get("timeout_s", "0.3")))
        except ValueError:
            raise web.HTTPBadRequest(text="timeout_s must be a number of seconds") from None
        return await self._start(request, "scan", data)

    async def selftest(self, request: web.Request) -> web.StreamResponse:
        return await self._start(request, "selftest", {})

    async def _start(self, request: web.Request, kind: str, data: dict[str, Any]) -> web.Response:
        session = await self._operator(request)
        try:
            run = self._runs.begin(kind, session.user)
        except Busy as exc:
            log.info("commissioning refused: busy", user=session.user, job=kind)
            raise web.HTTPConflict(text=str(exc)) from None
        log.info("operator change", user=session.user, commissioning=kind, request=data)
        task = asyncio.create_task(self._finish(run, data), name=f"console-{kind}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        raise web.HTTPSeeOther(PATH)

    async def _finish(self, run: Run, data: dict[str, Any]) -> None:
        try:
            await self._runs.finish(run, data)
        except Exception as exc:  # kept on the run and shown; the daemon carries on
            log.warning("commissioning failed", job=run.kind, user=run.by, error=str(exc))

    async def _stop(self, _app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
