"""The console's sessions and revenue: ``/console/sessions`` (filters by connector, date range,
payment method and status), its CSV export (the very text ``edge-controller sessions --format
csv`` writes for the same selection) and ``/console/revenue`` per day and payment method.

Everything is read as the sessions stored it; amounts are the report's decimal strings, summed
there in minor units. Any logged-in user may look; nothing here changes the site."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import date
from html import escape
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from edge_controller.web.pages import page
from edge_controller.web.ports import SessionFilter, SessionHistory

HTML = "text/html"
LISTED = 200  # rows on the page; the export has them all
STATUSES = ("running", "finished")
FILTER_KEYS = ("from", "to", "connector", "method", "status")
METHOD_NAMES = {
    "card_terminal": "Card at a terminal",
    "csms": "App or web payment (CSMS)",
    "rfid": "RFID card",
    "free_vend": "Free vend",
    "mqtt": "MQTT command",
    "web": "Web command",
    "operator": "Operator",
}
SESSION_COLUMNS = (
    ("session_id", "Session"),
    ("connector_id", "Connector"),
    ("id_tag", "Id tag"),
    ("started_at", "Started (UTC)"),
    ("stopped_at", "Stopped (UTC)"),
    ("energy_wh", "Energy Wh"),
    ("incl_tax", "Cost incl. tax"),
    ("currency", "Currency"),
    ("payment_method", "Paid by"),
    ("stop_reason", "Stop reason"),
)
REVENUE_COLUMNS = (
    ("sessions", "Sessions"),
    ("unpriced", "Unpriced"),
    ("energy_wh", "Energy Wh"),
    ("excl_tax", "Excl. tax"),
    ("tax", "Tax"),
    ("incl_tax", "Incl. tax"),
    ("captured", "Captured at terminals"),
    ("currency", "Currency"),
)


class BadFilter(ValueError):
    """A filter the console cannot apply; the message says which and why."""


def _day(raw: str, name: str) -> date | None:
    if raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadFilter(f"{name}: not a day (YYYY-MM-DD): {raw[:20]!r}") from None


def _one_of(raw: str, name: str, allowed: tuple[str, ...]) -> str | None:
    if raw == "":
        return None
    if raw not in allowed:
        raise BadFilter(f"{name}: {raw[:40]!r} is not one of {', '.join(allowed)}")
    return raw


def parse_filter(
    query: Mapping[str, str], connectors: tuple[str, ...], methods: tuple[str, ...]
) -> SessionFilter:
    """The filter of a console address's query; BadFilter names the key and the reason."""
    got = {key: query.get(key, "").strip() for key in FILTER_KEYS}
    wanted = SessionFilter(
        from_date=_day(got["from"], "from"),
        to_date=_day(got["to"], "to"),
        connector_id=_one_of(got["connector"], "connector", connectors),
        method=_one_of(got["method"], "method", methods),
        status=_one_of(got["status"], "status", STATUSES),
    )
    if wanted.from_date and wanted.to_date and wanted.from_date > wanted.to_date:
        raise BadFilter("from: the first day is after the last day")
    return wanted


def filter_query(wanted: SessionFilter) -> str:
    """The query string that selects ``wanted`` again (for the export link)."""
    pairs = {
        "from": wanted.from_date.isoformat() if wanted.from_date else "",
        "to": wanted.to_date.isoformat() if wanted.to_date else "",
        "connector": wanted.connector_id or "",
        "method": wanted.method or "",
        "status": wanted.status or "",
    }
    return urlencode({k: v for k, v in pairs.items() if v})


def _options(name: str, values: tuple[str, ...], chosen: str | None, label: str) -> str:
    options = '<option value="">any</option>' + "".join(
        f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>'
        f"{escape(METHOD_NAMES.get(v, v) if name == 'method' else v)}</option>"
        for v in values
    )
    return f'<label>{label} <select name="{name}">{options}</select></label>'


def _date_input(name: str, value: date | None, label: str) -> str:
    shown = value.isoformat() if value else ""
    return f'<label>{label} <input type="date" name="{name}" value="{shown}"></label>'


def _cells(row: Mapping[str, Any], columns: tuple[tuple[str, str], ...]) -> str:
    def shown(key: str) -> str:
        value = row.get(key)
        if key in ("payment_method", "method"):
            return METHOD_NAMES.get(str(value), str(value))
        return "-" if value is None or value == "" else str(value)

    return "".join(f'<td data-col="{key}">{escape(shown(key))}</td>' for key, _ in columns)


def _table(table_id: str, head: tuple[tuple[str, str], ...], rows: list[str]) -> str:
    heads = "".join(f"<th>{escape(title)}</th>" for _, title in head)
    return (
        f'<table id="{table_id}"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


class ConsoleReports:
    """The routes; ``viewer`` checks the console login (redirects to it without one)."""

    def __init__(
        self,
        history: SessionHistory,
        viewer: Callable[[web.Request], object],
        connectors: Callable[[], tuple[str, ...]],
    ) -> None:
        self._history, self._viewer, self._connectors = history, viewer, connectors

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/console/sessions", self.sessions)
        app.router.add_get("/console/sessions.csv", self.export)
        app.router.add_get("/console/revenue", self.revenue)

    def _filter(self, request: web.Request) -> SessionFilter:
        self._viewer(request)
        try:
            return parse_filter(request.query, self._connectors(), self._history.methods)
        except BadFilter as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None

    def _form(self, action: str, wanted: SessionFilter, full: bool) -> str:
        fields = _date_input("from", wanted.from_date, "From") + _date_input(
            "to", wanted.to_date, "To"
        )
        fields += _options("connector", self._connectors(), wanted.connector_id, "Connector")
        if full:
            fields += _options("method", self._history.methods, wanted.method, "Paid by")
            fields += _options("status", STATUSES, wanted.status, "Status")
        return (
            f'<form class="filters" method="get" action="{action}">{fields}'
            '<button type="submit">Show</button></form>'
        )

    @staticmethod
    def _page(title: str, body: str) -> web.Response:
        nav = (
            '<nav><a href="/console">Live site</a> <a href="/console/sessions">Sessions</a> '
            '<a href="/console/revenue">Revenue</a> <a href="/console/system">System</a></nav>'
        )
        head = f"<header><h1>{escape(title)}</h1></header>{nav}"
        html = page("en", title, f"{head}<main>{body}</main>")
        return web.Response(text=html, content_type=HTML, headers={"Cache-Control": "no-store"})

    async def sessions(self, request: web.Request) -> web.Response:
        wanted = self._filter(request)
        rows = await self._history.listed(wanted, LISTED)
        query = filter_query(wanted)
        lines = [
            f'<tr data-session="{r["session_id"]}">{_cells(r, SESSION_COLUMNS)}</tr>' for r in rows
        ]
        body = (
            self._form("/console/sessions", wanted, True)
            + f'<p><a class="button" id="export" href="/console/sessions.csv'
            f'{"?" + escape(query) if query else ""}" download>Export CSV</a> '
            f"Newest {LISTED} shown; the export has every matching session.</p>"
            + _table("sessions", SESSION_COLUMNS, lines)
        )
        return self._page("Sessions", body)

    async def export(self, request: web.Request) -> web.StreamResponse:
        """Streamed as it is read: a year of sessions needs memory for one piece of rows."""
        wanted = self._filter(request)
        first = wanted.from_date.isoformat() if wanted.from_date else "start"
        last = wanted.to_date.isoformat() if wanted.to_date else "now"
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="sessions-{first}-{last}.csv"',
                "Cache-Control": "no-store",
            }
        )
        async with contextlib.aclosing(self._history.export_csv(wanted)) as pieces:
            async for piece in pieces:
                if not response.prepared:
                    await response.prepare(request)
                await response.write(piece.encode())
        await response.write_eof()
        return response

    async def revenue(self, request: web.Request) -> web.Response:
        wanted = self._filter(request)
        # Revenue is what finished sessions earned, whatever way they were paid.
        tables = await self._history.revenue(
            SessionFilter(wanted.from_date, wanted.to_date, wanted.connector_id)
        )
        day_cols = (("day", "Day"), ("method", "Paid by"), *REVENUE_COLUMNS)
        days = [
            f'<tr data-day="{escape(r["day"])}" data-method="{escape(r["method"])}" '
            f'data-currency="{escape(r["currency"])}">{_cells(r, day_cols)}</tr>'
            for r in tables["days"]
        ]
        method_cols = (("method", "Paid by"), *REVENUE_COLUMNS)
        methods = [
            f'<tr data-method="{escape(r["method"])}" data-currency="{escape(r["currency"])}">'
            f"{_cells(r, method_cols)}</tr>"
            for r in tables["methods"]
        ]
        totals = [
            f'<tr data-currency="{escape(r["currency"])}">{_cells(r, REVENUE_COLUMNS)}</tr>'
            for r in tables["total"]
        ]
        body = (
            self._form("/console/revenue", wanted, False)
            + "<p>Finished sessions by the day they started (site time). Captured: what card "
            "terminals booked for them.</p>"
            + "<h2>Per day and payment method</h2>"
            + _table("revenue-days", day_cols, days)
            + "<h2>Per payment method</h2>"
            + _table("revenue-methods", method_cols, methods)
            + "<h2>Total</h2>"
            + _table("revenue-total", REVENUE_COLUMNS, totals)
        )
        return self._page("Revenue", body)
