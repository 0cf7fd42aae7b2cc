"""Paying by card at a site's terminal from the display: ``POST /display/pay``.

The driver names the connector (its card's "Pay by card" button) or only the terminal (the
site page's button for a shared terminal): then it is the only EV waiting for authorisation at
a connector the terminal serves (``domain.payments.terminal_choice``); with none or several the
terminal is not armed and the answer says why and what to do. An armed terminal is a
``PayAtTerminal`` command on the one command port (origin web), decided when the card holder is
done: the press is answered at once with the payment's own page, ``/display/pay/<id>``, which
tells the driver to present their card at that terminal now, for that connector, and reloads
itself until it says how the payment ended (kept ``KEPT_S`` after). A post from another site's
page is refused; each client address may press ``PAYS_PER_HOUR`` times an hour, and at most
``MAX_IN_FLIGHT`` payments wait at once."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from edge_controller.domain.commands import CommandResult, Origin, PayAtTerminal
from edge_controller.domain.payments import terminal_choice, waiting_for_authorisation
from edge_controller.log import get_logger
from edge_controller.web.display import DisplayHub, language_of
from edge_controller.web.display_model import terminal_model
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
RELOAD_S = 2  # the payment's page while the terminal waits for the card
KEPT_S = 900.0  # a finished payment's page stays readable this long


@dataclass(slots=True)
class _Payment:
    """A press that armed a terminal: for which connector, at which terminal, and its outcome
    (None: no answer in time) once ``decided`` is done."""

    connector_id: str
    terminal_id: str
    decided: asyncio.Task[CommandResult | None]
    done_at_s: float | None = None  # monotonic


class PayRoutes:
    def __init__(
        self, hub: DisplayHub, commands: CommandPort, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._hub, self._commands, self._clock = hub, commands, clock
        self._budget = RateLimit(PAYS_PER_HOUR, 3600.0)
        self._payments: dict[str, _Payment] = {}

    def add_to(self, app: web.Application) -> None:
        app.router.add_post("/display/pay", self.pay)
        app.router.add_get("/display/pay/{payment}", self.payment)
        app.on_shutdown.append(self._stop)

    def _answer(
        self, lang: str, message: str, status: int, refresh_s: int | None = None
    ) -> web.Response:
        html = message_page(lang, text(lang, "pay.title"), message, refresh_s)
        return web.Response(text=html, content_type=HTML, status=status,
                            headers={"Cache-Control": "no-store"})  # fmt: skip

    def _in_flight(self) -> int:
        return sum(not p.decided.done() for p in self._payments.values())

    def _forget_old(self) -> None:
        now_s = self._clock()
        for pid, p in list(self._payments.items()):
            if p.done_at_s is not None and now_s - p.done_at_s > KEPT_S:
                del self._payments[pid]

    async def _stop(self, _app: web.Application) -> None:
        """At shutdown: stop waiting (the command port finishes a payment it has begun)."""
        for p in self._payments.values():
            p.decided.cancel()

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
        self._forget_old()
        if self._in_flight() >= MAX_IN_FLIGHT:
            return self._answer(lang, text(lang, "pay.busy"), 503)
        pid = secrets.token_urlsafe(16)
        payment = _Payment(
            found,
            self._hub.setup.terminal_of(found) or "",
            asyncio.create_task(self._decide(found)),
        )
        payment.decided.add_done_callback(lambda _: setattr(payment, "done_at_s", self._clock()))
        self._payments[pid] = payment
        raise web.HTTPSeeOther(f"/display/pay/{pid}?lang={lang}")

    async def _decide(self, connector_id: str) -> CommandResult | None:
        try:
            async with asyncio.timeout(PAY_TIMEOUT_S):
                result = await self._commands.decide(PayAtTerminal(connector_id, Origin.WEB))
        except TimeoutError:
            result = None
        except Exception as exc:  # the page says it failed; the port's own log has the rest
            log.exception("display payment failed", connector=connector_id)
            result = CommandResult.failure(f"internal error: {type(exc).__name__}")
        log.info("display payment", connector=connector_id, ok=bool(result and result.ok),
                 error=None if result is None else result.error)  # fmt: skip
        return result

    async def payment(self, request: web.Request) -> web.Response:
        """The payment's page: present the card now, then how it ended."""
        lang = language_of(request)
        found = self._payments.get(request.match_info["payment"])
        if found is None:
            return self._answer(lang, text(lang, "pay.gone"), 404)
        if not found.decided.done():
            shown = text(lang, "pay.present", terminal=found.terminal_id, name=found.connector_id)
            return self._answer(lang, shown, 200, refresh_s=RELOAD_S)
        result = None if found.decided.cancelled() else found.decided.result()
        if result is None or not result.ok:
            reason = "timeout" if result is None else (result.error or "refused")
            return self._answer(lang, text(lang, "pay.refused", reason=reason), 409)
        return self._answer(lang, text(lang, "pay.ok", name=found.connector_id), 200)
