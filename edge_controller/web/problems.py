"""Report a problem: the form on the site display and what happens when it is sent.

The form carries a one-time submission id: the same form sent twice (a double tap, a reload) is
filed once and answered with the same reference. A post from another site's page (an Origin
that is not ours) is refused; each client address may file ``web.reports_per_hour`` reports."""

from __future__ import annotations

import secrets
import time
from html import escape

from aiohttp import web

from edge_controller.domain.problems import ProblemKind, ReportRefused, check_report
from edge_controller.log import get_logger
from edge_controller.web.display import DisplayHub, language_of
from edge_controller.web.i18n import text
from edge_controller.web.limits import RateLimit
from edge_controller.web.pages import page
from edge_controller.web.ports import ProblemDesk

log = get_logger("web.problems")

HTML = "text/html"


def same_origin(request: web.Request) -> bool:
    """A browser names the page a form was sent from; it must be one of ours."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == request.host


def report_form(
    lang: str, connectors: tuple[str, ...], chosen: str | None, error: str | None = None
) -> str:
    options = "".join(
        f'<option value="{escape(c)}"{" selected" if c == chosen else ""}>{escape(c)}</option>'
        for c in connectors
    )
    kinds = "".join(
        f'<label><input type="radio" name="kind" value="{k.value}" required> '
        f"{escape(text(lang, f'report.kind.{k.value}'))}</label>"
        for k in ProblemKind
    )
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f"<header><h1>{escape(text(lang, 'report.title'))}</h1></header><main>{problem}"
        f'<form method="post" action="/display/report?lang={lang}">'
        f'<input type="hidden" name="submission" value="{secrets.token_urlsafe(16)}">'
        f'<label for="connector">{escape(text(lang, "report.connector"))}</label>'
        f'<select id="connector" name="connector" required>{options}</select>'
        f"<fieldset><legend>{escape(text(lang, 'report.kind'))}</legend>{kinds}</fieldset>"
        f'<label for="text">{escape(text(lang, "report.text"))}</label>'
        f'<textarea id="text" name="text" rows="4" maxlength="500"></textarea>'
        f'<button type="submit">{escape(text(lang, "report.send"))}</button></form>'
        f'<p><a href="/display?lang={lang}">{escape(text(lang, "report.back"))}</a></p></main>'
    )
    return page(lang, text(lang, "report.title"), body)


def thanks_page(lang: str, reference: str) -> str:
    body = (
        f"<header><h1>{escape(text(lang, 'report.title'))}</h1></header><main>"
        f"<p>{escape(text(lang, 'report.thanks'))}</p>"
        f"<p>{escape(text(lang, 'report.reference'))}:</p>"
        f'<p class="reference" data-reference="{escape(reference)}">{escape(reference)}</p>'
        f'<p><a class="button" href="/display?lang={lang}">'
        f"{escape(text(lang, 'report.back'))}</a></p></main>"
    )
    return page(lang, text(lang, "report.title"), body)


class ProblemRoutes:
    def __init__(self, hub: DisplayHub, desk: ProblemDesk, reports_per_hour: int) -> None:
        self._hub, self._desk = hub, desk
        self._budget = RateLimit(reports_per_hour, 3600.0)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/display/report", self.form)
        app.router.add_post("/display/report", self.send)

    def _connectors(self) -> tuple[str, ...]:
        setup = self._hub.setup
        return setup.connectors or tuple(c.connector_id for c in self._hub.view().connectors)

    async def form(self, request: web.Request) -> web.Response:
        lang = language_of(request)
        chosen = request.query.get("connector")
        html = report_form(lang, self._connectors(), chosen)
        return web.Response(text=html, content_type=HTML, headers={"Cache-Control": "no-store"})

    async def send(self, request: web.Request) -> web.Response:
        lang = language_of(request)
        if not same_origin(request):
            raise web.HTTPForbidden(text="the report form must be sent from this site")
        client = request.remote or "unknown"
        if not self._budget.allow(client, time.monotonic()):
            html = report_form(lang, self._connectors(), None, text(lang, "report.too_many"))
            return web.Response(text=html, content_type=HTML, status=429)
        form = await request.post()  # bounded by client_max_size (413 beyond)
        fields = {k: form.get(k) for k in ("connector", "kind", "text", "submission")}
        values = {k: v if isinstance(v, str) else "" for k, v in fields.items()}
        try:
            report = check_report(
                values["connector"], values["kind"], values["text"], values["submission"],
                self._connectors(),
            )  # fmt: skip
        except ReportRefused as exc:
            log.info("problem report refused", reason=str(exc))
            error = f"{text(lang, 'report.invalid')} ({exc})"
            html = report_form(lang, self._connectors(), values["connector"] or None, error)
            return web.Response(text=html, content_type=HTML, status=400)
        filed = await self._desk.file(report)
        return web.Response(text=thanks_page(lang, filed.reference), content_type=HTML)
