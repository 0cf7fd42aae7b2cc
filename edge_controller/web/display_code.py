"""A key code typed at the site display: ``POST /display/code`` from a connector's page.

The code is a ``StartSession`` with ``key_code`` on the one command port (origin web): the
session side authorises it as it does a card (local list, cache, the CSMS's Authorize, with
the OCPP 2.x type KeyCode) and starts the session on that connector. Guessing is held back
twice: each client address may send ``CODES_PER_MINUTE`` codes a minute, and a connector takes
no code for ``LOCKOUT_S`` after ``WRONG_CODES`` refused ones within ``WRONG_WINDOW_S``. A code
is never logged nor shown back: logs carry it masked (``tokens.masked``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from edge_controller.domain.commands import CommandResult, Origin, StartSession
from edge_controller.domain.sessions.tokens import InvalidToken, masked, normalize_id_tag
from edge_controller.log import get_logger
from edge_controller.web.display import DisplayHub, language_of
from edge_controller.web.i18n import text
from edge_controller.web.limits import RateLimit, WrongCodes
from edge_controller.web.pages import message_page
from edge_controller.web.ports import CommandPort
from edge_controller.web.problems import same_origin

log = get_logger("web.code")

CODES_PER_MINUTE = 10
WRONG_CODES = 5
WRONG_WINDOW_S = 600.0
LOCKOUT_S = 300.0
DECIDE_TIMEOUT_S = 30.0  # the CSMS's Authorize has its own, shorter timeout
MAX_CODE_CHARS = 36  # an OCPP 2.0.1 idToken


class CodeRoutes:
    def __init__(
        self, hub: DisplayHub, commands: CommandPort, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._hub, self._commands, self._clock = hub, commands, clock
        self._budget = RateLimit(CODES_PER_MINUTE, 60.0)
        self._wrong = WrongCodes(WRONG_CODES, WRONG_WINDOW_S, LOCKOUT_S)

    def add_to(self, app: web.Application) -> None:
        app.router.add_post("/display/code", self.code)

    def _answer(self, lang: str, message: str, status: int) -> web.Response:
        html = message_page(lang, text(lang, "code.title"), message)
        return web.Response(text=html, content_type="text/html", status=status,
                            headers={"Cache-Control": "no-store"})  # fmt: skip

    async def code(self, request: web.Request) -> web.Response:
        lang = language_of(request)
        if not same_origin(request):
            raise web.HTTPForbidden(text="the code form must be sent from this site")
        now_s = self._clock()
        if not self._budget.allow(request.remote or "unknown", now_s):
            return self._answer(lang, text(lang, "code.busy"), 429)
        form = await request.post()
        connector = str(form.get("connector", ""))[:100]
        if connector not in {c.connector_id for c in self._hub.view().connectors}:
            return self._answer(lang, text(lang, "unknown_connector", name=connector), 404)
        locked_s = self._wrong.locked_for_s(connector, now_s)
        if locked_s > 0:
            minutes = str(max(1, round(locked_s / 60)))
            return self._answer(lang, text(lang, "code.locked", minutes=minutes), 429)
        try:
            code = normalize_id_tag(str(form.get("code", ""))[:100], MAX_CODE_CHARS)
        except InvalidToken:
            return self._answer(lang, text(lang, "code.invalid"), 400)
        result = await self._decide(connector, code)
        if result is not None and result.ok:
            self._wrong.right(connector)
            return self._answer(lang, text(lang, "code.ok", name=connector), 200)
        if self._wrong.wrong(connector, self._clock()):
            log.warning("key codes locked out", connector=connector, lockout_s=LOCKOUT_S)
        return self._answer(lang, text(lang, "code.refused"), 403)

    async def _decide(self, connector_id: str, code: str) -> CommandResult | None:
        start = StartSession(connector_id, code, Origin.WEB, key_code=True)
        try:
            async with asyncio.timeout(DECIDE_TIMEOUT_S):
                result = await self._commands.decide(start)
        except TimeoutError:
            result = None
        log.info("key code", connector=connector_id, code=masked(code),
                 ok=bool(result and result.ok))  # fmt: skip
        return result
