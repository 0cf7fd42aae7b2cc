"""The site display: ``/display``, ``/display/<connector>`` and their live stream.

One hub follows the control loop's snapshots and renders each language's update once per
snapshot; every open page gets that update as a server-sent event (a slow page skips to the
latest: its mailbox holds one update). Nothing here can change the site."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from edge_controller.api.changes import Versions
from edge_controller.domain.display_messages import shown
from edge_controller.domain.payments import ArmDecision
from edge_controller.domain.snapshot import SiteView
from edge_controller.log import get_logger
from edge_controller.web.display_model import Board, DisplaySetup, display_model
from edge_controller.web.i18n import pick_language, text
from edge_controller.web.pages import display_page, message_page
from edge_controller.web.ports import MessageSource, SiteSource
from edge_controller.web.qr import qr_svg
from edge_controller.web.sse import Streams

log = get_logger("web")

MAX_STREAMS = 1000  # open display streams at once; more are refused (503)


class DisplayHub(Versions):
    """The latest view and, per language, its rendered update; a new version per snapshot."""

    def __init__(
        self,
        source: SiteSource,
        setup: DisplaySetup,
        push_interval_s: float,
        clock: Callable[[], float] = time.time,
        *,
        messages: MessageSource | None = None,
        arming: Callable[[], Mapping[str, ArmDecision]] | None = None,
    ) -> None:
        """``messages``: the CSMS's display messages (none without it); ``arming``: the
        decisions of the terminals that arm themselves, by terminal id."""
        self._source, self._setup, self._messages = source, setup, messages
        self._arming = arming
        self._interval_s, self._clock = push_interval_s, clock
        self._view: SiteView | None = None
        self._now_s = 0.0
        self._rendered: dict[tuple[str, str | None], bytes] = {}
        super().__init__()

    @property
    def setup(self) -> DisplaySetup:
        return self._setup

    def view(self) -> SiteView:
        return self._view if self._view is not None else self._source.current()

    def board(self) -> Board:
        source, arms = self._messages, self._arming() if self._arming is not None else {}
        if source is None:
            return Board(arms=arms)
        return Board(source.messages(), source.templates(), source.holds(), arms)

    def payment_url(self, connector_id: str) -> str | None:
        """The URL the connector's QR code opens now (None: it has none)."""
        view = next((c for c in self.view().connectors if c.connector_id == connector_id), None)
        if view is None:
            return None
        board = self.board()
        here = shown(board.messages, view, self._clock())
        code = self._setup.qr.code(connector_id, here, board.templates)
        return None if code is None else code.url

    def model(self, language: str, only: str | None = None) -> dict[str, Any]:
        now_s = self._clock()
        return display_model(self.view(), self._setup, language, now_s, only, board=self.board())

    def update(self, language: str, only: str | None) -> bytes:
        """The server-sent event for this version (rendered once per language and page)."""
        key = (language, only)
        event = self._rendered.get(key)
        if event is None:
            now_s = self._now_s if self._view is not None else self._clock()
            view, board = self.view(), self.board()
            model = display_model(view, self._setup, language, now_s, only, board=board)
            data = json.dumps(model, separators=(",", ":"), allow_nan=False)
            event = f"id: {self.version}\ndata: {data}\n\n".encode()
            self._rendered[key] = event
        return event

    def publish(self, view: SiteView) -> None:
        self._view, self._now_s = view, self._clock()
        self._rendered = {}
        self.bump()

    async def run(self) -> None:
        """Every snapshot is published; without one for ``push_interval_s`` (a slow tick) the
        current view is, so the running time of a session moves on."""
        while True:
            try:
                async with asyncio.timeout(self._interval_s):
                    view = await self._source.next_view()
            except TimeoutError:
                view = self._source.current()
            self.publish(view)


def language_of(request: web.Request) -> str:
    return pick_language(request.headers.get("Accept-Language"), request.query.get("lang"))


def _connector(hub: DisplayHub, request: web.Request) -> str | None:
    """The connector named in the path or query, or None for the whole site; 404 if unknown."""
    cid = request.match_info.get("connector") or request.query.get("connector")
    if cid is None:
        return None
    known = hub.setup.connectors or tuple(c.connector_id for c in hub.view().connectors)
    if cid not in known:
        lang = language_of(request)
        page = message_page(lang, text(lang, "all"), text(lang, "unknown_connector", name=cid))
        raise web.HTTPNotFound(text=page, content_type="text/html")
    return cid


class DisplayRoutes:
    def __init__(self, hub: DisplayHub) -> None:
        self._hub = hub
        self.streams = Streams("display", MAX_STREAMS)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/display", self.page)
        app.router.add_get("/display/events", self.events)
        app.router.add_get("/display/qr/{connector}", self.qr)
        app.router.add_get("/display/{connector}", self.page)

    async def page(self, request: web.Request) -> web.Response:
        only = _connector(self._hub, request)
        lang = language_of(request)
        html = display_page(self._hub.model(lang, only), lang, only)
        return web.Response(
            text=html,
            content_type="text/html",
            headers={"Content-Language": lang, "Vary": "Accept-Language"},
        )

    async def qr(self, request: web.Request) -> web.Response:
        """The connector's payment QR code now (404: it has none)."""
        cid = _connector(self._hub, request)
        url = None if cid is None else self._hub.payment_url(cid)
        if url is None:
            raise web.HTTPNotFound(text="no payment QR code here")
        return web.Response(
            text=qr_svg(url), content_type="image/svg+xml", headers={"Cache-Control": "no-store"}
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        only, lang = _connector(self._hub, request), language_of(request)
        return await self.streams.serve(request, self._hub, lambda: self._hub.update(lang, only))
