"""Paying by card at a site's terminal from the display: ``POST /display/pay``.

The driver names the connector (its card's "Pay by card" button) or only the terminal (the
site page's button for a shared terminal): then it is the only EV waiting for authorisation at
a connector the terminal serves (``domain.payments.terminal_choice``); with none or several the
terminal is not armed and the answer says why and what to do. An armed terminal is a
``PayAtTerminal`` command on the one command port (origin web), answered when the card holder
is done. A post from another site's page is refused; each client address may press
``PAYS_PER_HOUR`` times an hour, and at most ``MAX_IN_FLIGHT`` payments wait at once."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from edge_controller.domain.commands import Origin, PayAtTerminal
from edge_controller.domain.payments import terminal_choice
from edge_controller.log import get_logger
from edge_controller.web.display import DisplayHub, language_of
from edge_controller.web.display_model import terminal_model, waiting_for_authorisation
from edge_controller.web.i18n import text
from edge_controller.web.limits import RateLimit
from edge_controller.web.pages import message_page
from edge_controller.web.ports import CommandPort
from edge_controller.web.problems import same_origin

log = get_logger("web.pay")

HTML = "text/html"
PAYS_PER_HOUR = 20
MAX_IN_FLIGHT = 8
PAY_TIMEOUT_S = 600.0  # the card holder, then the EV within the terminal's plug timeout


class PayRoutes:
    def __init__(self, hub: DisplayHub, commands: CommandPort) -> None:
        self._hub, self._commands = hub, commands
        self._budget = RateLimit(PAYS_PER_HOUR, 3600.0)
        self._in_flight = 0

    def add_to(self, app: web.Application) -> None:
        app.router.add_post("/display/pay", self.pay)

    def _answer(self, lang: str, message: str, status: int) -> web.Response:
        html = message_page(lang, text(lang, "pay.title"), message)
        return web.Response(text=html, content_type=HTML, status=status,
                            headers={"Cache-Control": "no-store"})  # fmt: skip

    def _connector(self, lang: str, connector: str, terminal: str) -> str | web.Response:
        """The connector the press pays for, or the answer that says why there is none."""
        setup = self._hub.setup
        if connector:
            if setup.terminal_of(connector) is None:
                return self._answer(lang, text(lang, "unknown_connector", name=connector), 404)
            return connector
        if terminal not in setup.terminals:
            return self._answer(lang, text(lang, "unknown_connector", name=terminal), 404)
        waiting = waiting_for_authorisation(self._hub.view().connectors)
        choice = terminal_choice(setup.terminals[terminal], waiting)
        if choice.connector_id is None:
            why = terminal_model(terminal, setup, waiting, lang)["note_text"]
            log.info("terminal not armed", terminal=terminal, waiting=list(choice.waiting))
            return self._answer(lang, text(lang, "pay.not_armed", terminal=terminal, why=why), 409)
        return choice.connector_id

    async def pay(self, request: web.Request) -> web.Response:
        lang = language_of(request)
        if not same_origin(request):
            raise web.HTTPForbidden(text="the pay form must be sent from this site")
        if not self._budget.allow(request.remote or "unknown", time.monotonic()):
            return self._answer(lang, text(lang, "pay.busy"), 429)
        form = await request.post()
        connector, terminal = (str(form.get(k, ""))[:100] for k in ("connector", "terminal"))
        if bool(connector) == bool(terminal):
            raise web.HTTPBadRequest(text="name a connector or a terminal")
        found = self._connector(lang, connector, terminal)
        if isinstance(found, web.Response):
            return found
        if self._in_flight >= MAX_IN_FLIGHT:
            return self._answer(lang, text(lang, "pay.busy"), 503)
        self._in_flight += 1
        try:
            async with asyncio.timeout(PAY_TIMEOUT_S):
                result = await self._commands.decide(PayAtTerminal(found, Origin.WEB))
        except TimeoutError:
            result = None
        finally:
            self._in_flight -= 1
        log.info("display payment", connector=found, ok=bool(result and result.ok),
                 error=None if result is None else result.error)  # fmt: skip
        if result is None or not result.ok:
            reason = "timeout" if result is None else (result.error or "refused")
            return self._answer(lang, text(lang, "pay.refused", reason=reason), 409)
        return self._answer(lang, text(lang, "pay.ok", name=found), 200)
