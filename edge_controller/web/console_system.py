"""The console's system page, ``/console/system`` (any role): each bus device's health (answers,
errors by kind, latency, last answer, what is wrong now), the ``check-config`` result of the
running config, the daemon's last log lines (as written: redacted, at the level in force) and
each device's last error events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from aiohttp import web

from edge_controller.domain.snapshot import DeviceView, ErrorEvent, GatewayFault
from edge_controller.log import recent_lines
from edge_controller.web.console_live import shown
from edge_controller.web.pages import page

LOG_LINES = 200
# Each device's last error events, newest first (the buses keep a bounded number).
ErrorHistory = Callable[[], Mapping[str, Sequence[ErrorEvent]]]
HTML = "text/html"
_LOG_KEYS = ("timestamp", "level", "component", "event")  # their own columns


def _utc(at_s: float | None) -> str:
    return "-" if at_s is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at_s))


def device_row(d: DeviceView) -> str:
    errors = ", ".join(f"{kind} {count}" for kind, count in sorted(d.errors.items())) or "-"
    cells = {
        "device": d.device_id,
        "available": "yes" if d.available else "no",
        "requests": str(d.requests),
        "errors": errors,
        "p50_ms": shown(d.latency_p50_ms),
        "p99_ms": shown(d.latency_p99_ms),
        "last_answer": _utc(d.last_success_s),
        "fault": shown(d.fault_text),
    }
    tds = "".join(f'<td data-col="{k}">{escape(v)}</td>' for k, v in cells.items())
    return f'<tr data-device="{escape(d.device_id)}">{tds}</tr>'


def error_rows(device_id: str, events: Sequence[ErrorEvent]) -> str:
    rows = "".join(
        f'<tr><td data-col="at">{_utc(e.at_s)}</td><td data-col="kind">{escape(e.kind)}</td>'
        f'<td data-col="message">{escape(e.message)}</td></tr>'
        for e in events
    )
    return (
        f'<h3>{escape(device_id)}</h3><table data-errors="{escape(device_id)}"><thead><tr>'
        "<th>Time (UTC)</th><th>Kind</th><th>Message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def errors_body(history: Mapping[str, Sequence[ErrorEvent]]) -> str:
    shown_ = "".join(error_rows(d, events) for d, events in sorted(history.items()) if events)
    return f"<h2>Error history (newest first)</h2>{shown_ or '<p>No errors.</p>'}"


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def log_row(line: Mapping[str, Any]) -> str:
    """One log line: its time, level, component and event, then its other fields."""
    details = " ".join(f"{k}={_value(v)}" for k, v in line.items() if k not in _LOG_KEYS)
    cells = [str(line.get(k, "")) for k in _LOG_KEYS] + [details]
    level = escape(str(line.get("level", "")))
    return f'<tr data-level="{level}">' + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"


def gateway_body(faults: Sequence[GatewayFault]) -> str:
    """What is wrong between the gateways sharing the grid connection (nothing if all is well)."""
    if not faults:
        return ""
    items = "".join(f"<li>{escape(f.text)}</li>" for f in faults)
    return f'<h2>Gateway faults</h2><ul id="gateway-faults">{items}</ul>'


def system_body(
    devices: Sequence[DeviceView], checks: Sequence[str], lines: Sequence[Mapping[str, Any]]
) -> str:
    heads = ("Device", "Answers", "Requests", "Errors by kind", "p50 ms", "p99 ms",
             "Last answer (UTC)", "Wrong now")  # fmt: skip
    device_head = "".join(f"<th>{h}</th>" for h in heads)
    check = "\n".join(checks) if checks else "(not known here)"
    logs = "".join(log_row(line) for line in reversed(lines))  # newest first
    return (
        f'<h2>Devices</h2><table id="devices"><thead><tr>{device_head}</tr></thead>'
        f"<tbody>{''.join(device_row(d) for d in devices)}</tbody></table>"
        "<h2>Configuration (<code>check-config</code> of the running config)</h2>"
        f'<pre id="check-config">{escape(check)}</pre>'
        f"<h2>Last log lines (newest first)</h2>"
        '<table id="log"><thead><tr><th>Time (UTC)</th><th>Level</th><th>Component</th>'
        f"<th>Event</th><th>Details</th></tr></thead><tbody>{logs}</tbody></table>"
    )


class ConsoleSystem:
    """``viewer`` checks the console login (redirects to it without one); ``devices`` gives the
    status view's devices now."""

    def __init__(
        self,
        viewer: Callable[[web.Request], object],
        devices: Callable[[], Sequence[DeviceView]],
        checks: Sequence[str],
        errors: ErrorHistory | None = None,
        gateway_faults: Callable[[], Sequence[GatewayFault]] = lambda: (),
    ) -> None:
        self._viewer, self._devices, self._checks = viewer, devices, tuple(checks)
        self._errors, self._gateway_faults = errors, gateway_faults

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/console/system", self.system)

    async def system(self, request: web.Request) -> web.Response:
        self._viewer(request)
        nav = (
            '<nav><a href="/console">Live site</a> <a href="/console/sessions">Sessions</a> '
            '<a href="/console/revenue">Revenue</a> <a href="/console/system">System</a> '
            '<a href="/console/commissioning">Commissioning</a></nav>'
        )
        body = gateway_body(self._gateway_faults())
        body += system_body(self._devices(), self._checks, recent_lines(LOG_LINES))
        if self._errors is not None:
            body += errors_body(self._errors())
        html = page("en", "System", f"<header><h1>System</h1></header>{nav}<main>{body}</main>")
        return web.Response(text=html, content_type=HTML, headers={"Cache-Control": "no-store"})
