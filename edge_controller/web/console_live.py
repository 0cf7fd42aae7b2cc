"""The console's live site view: the figures of the site line and of each connector's row,
formatted once here for the page as served and for its live stream (``/console/live``, one
server-sent event per control-loop snapshot, ``static/console.js`` fills the cells); and the
lists of what waits for an operator: outbox messages the CSMS refused past their attempts
(parked, with "put back in line") and card payments whose outcome a crash left unknown."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from html import escape
from typing import Any

from aiohttp import web

from edge_controller.domain.model import Phases3
from edge_controller.domain.snapshot import ChildView, ConnectorView, SiteView
from edge_controller.web.display import DisplayHub
from edge_controller.web.sse import Streams

MAX_STREAMS = 50  # open console streams at once; more are refused (503)
PARKED_LISTED = 200


def shown(value: Any) -> str:
    """A cell's text: floats to one decimal, nothing as "-"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def connector_cells(c: ConnectorView) -> dict[str, str]:
    return {
        "state": c.availability.value,
        "offered_a": shown(c.offered_current_a),
        "reason": shown(c.limit_reason),
        "power_w": shown(c.power_w),
        "energy_wh": shown(c.session_energy_wh),
    }


def _phases(values: Phases3 | None) -> str:
    return "-" if values is None else " / ".join(shown(float(a)) for a in values)


def child_cells(c: ChildView) -> dict[str, str]:
    """A child gateway as its parent sees it: how long ago it last reported, the budget in
    force ("-": none), what it is counted at per grid phase, and whether it is lost."""
    return {
        "age": "none yet" if c.report_age_s is None else f"{shown(c.report_age_s)} s",
        "budget_a": _phases(c.budget_a),
        "counted_a": _phases(c.counted_a),
        "lost": "lost" if c.lost else "reporting",
    }


CHILD_HEADS = ("Child", "Last report", "Budget A (L1 / L2 / L3)", "Counted at A", "State")


def children_table(view: SiteView) -> str:
    """A parent's children (the table is there, hidden, on a gateway with none: the live
    stream shows them once the parent has made its first decision)."""
    rows = "".join(
        f'<tr data-child="{escape(c.child_id)}"><td>{escape(c.child_id)}</td>'
        + "".join(f'<td data-col="{k}">{escape(v)}</td>' for k, v in child_cells(c).items())
        + "</tr>"
        for c in view.gateway_children
    )
    hidden = "" if view.gateway_children else " hidden"
    heads = "".join(f"<th>{h}</th>" for h in CHILD_HEADS)
    return (
        f'<section id="children"{hidden}><h2>Child gateways</h2><table><thead><tr>{heads}'
        f"</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def site_cells(view: SiteView) -> dict[str, str]:
    grid = view.grid_current_a
    return {
        "grid_limit_a": f"{view.grid_limit_a:.0f}",
        "grid_a": "-" if grid is None else " / ".join(f"{a:.1f}" for a in grid),
        "uplink": "online" if view.uplink_online else "offline",
        "backlog": str(view.outbox_backlog),
        "parked": str(view.outbox_parked),
        "payments_unknown": str(view.payments_unknown),
        "allocation": "; ".join(view.allocation_notes) or "-",
    }


def live_model(view: SiteView) -> dict[str, Any]:
    return {
        "at_s": view.at_s,
        "site": site_cells(view),
        "connectors": [
            {"id": c.connector_id, "cells": connector_cells(c)} for c in view.connectors
        ],
        "children": [{"id": c.child_id, "cells": child_cells(c)} for c in view.gateway_children],
    }


def cell(name: str, text: str) -> str:
    return f'<span data-col="{name}">{escape(text)}</span>'


def site_line(view: SiteView) -> str:
    s = {k: cell(k, v) for k, v in site_cells(view).items()}
    return (
        f'<p id="site" data-at="{view.at_s!r}">Grid limit {s["grid_limit_a"]} A; grid now '
        f"{s['grid_a']} A; uplink {s['uplink']}, backlog {s['backlog']}. For an operator: "
        f"parked messages {s['parked']}, payments of unknown outcome {s['payments_unknown']}; "
        f"allocation notes {s['allocation']}</p>"
    )


def _td(text: str) -> str:
    return f"<td>{escape(text)}</td>"


def held_section(
    parked: list[dict[str, Any]], unknown: list[dict[str, Any]], csrf: str | None
) -> str:
    """Both lists; ``csrf``: the operator's token (None: a viewer, who gets no buttons)."""

    def button(fields: str, label: str) -> str:
        if csrf is None:
            return ""
        return (
            '<form class="inline" method="post" action="/console/outbox/requeue">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">{fields}'
            f'<button type="submit">{label}</button></form>'
        )

    def again(seq: int) -> str:
        return button(f'<input type="hidden" name="seq" value="{seq}">', "Put back in line")

    rows = "".join(
        f'<tr data-seq="{p["seq"]}">{_td(str(p["seq"]))}{_td(p["identity"])}{_td(p["event"])}'
        f"{_td(shown(p['session_id']))}{_td(p['queued_at'])}{_td(str(p['attempts']))}"
        f"{_td(p['last_error'] or '')}"
        f"<td>{again(p['seq'])}</td></tr>"
        for p in parked
    )
    every = button('<input type="hidden" name="all" value="true">', "Put all back in line")
    payments = "".join(
        f"<tr>{_td(u['terminal_id'])}{_td(u['connector_id'])}{_td(u['amount'])}"
        f"{_td(u['currency'])}{_td(u['at'])}</tr>"
        for u in unknown
    )
    return (
        "<h2>Parked outbox messages</h2><p>The CSMS refused these past their attempts; they "
        "are kept and sent again only when put back in line (<code>edge-controller outbox "
        f"--requeue</code> does the same).</p>{every if parked else ''}"
        '<table id="parked"><thead><tr><th>Seq</th><th>Identity</th><th>Event</th>'
        "<th>Session</th><th>Queued (UTC)</th><th>Attempts</th><th>Last error</th><th>Action</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
        "<h2>Card payments of unknown outcome</h2><p>A restart found these pre-authorisations "
        "without a stored answer: check each in the terminal's journal and reverse it there if "
        "it was approved (the controller cannot: the reversal needs the receipt number the lost "
        "answer carried).</p>"
        '<table id="unknown-payments"><thead><tr><th>Terminal</th><th>Connector</th>'
        "<th>Amount</th><th>Currency</th><th>At (UTC)</th></tr></thead>"
        f"<tbody>{payments}</tbody></table>"
    )


class ConsoleLive:
    """``/console/live``: the live model per snapshot, to logged-in users only."""

    def __init__(self, hub: DisplayHub, logged_in: Callable[[web.Request], object | None]) -> None:
        self._hub, self._logged_in = hub, logged_in
        self._version, self._event = -1, b""
        self.streams = Streams("console", MAX_STREAMS)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/console/live", self.events)

    def _update(self) -> bytes:
        """This version's event, made once for every open console."""
        if self._version != self._hub.version:
            data = json.dumps(live_model(self._hub.view()), separators=(",", ":"))
            self._version, self._event = self._hub.version, f"data: {data}\n\n".encode()
        return self._event

    async def events(self, request: web.Request) -> web.StreamResponse:
        if self._logged_in(request) is None:
            raise web.HTTPUnauthorized(text="log in first")
        # A logout (or the session's end) ends the stream at the next snapshot.
        return await self.streams.serve(
            request, self._hub, self._update, lasts=lambda: self._logged_in(request) is not None
        )
