"""The status server: GET /status returns the live SiteView as JSON on a Unix socket.

A Unix socket in the state directory needs no port in the config and is guarded by file
permissions; it only reads state, it never drives it. POST /scan (when the daemon gives a
scanner) runs `edge-controller scan` through the daemon's open bus: reads only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from edge_controller.api.codec import site_to_json
from edge_controller.domain.snapshot import SiteView

STATUS_SOCKET = "status.sock"


Scanner = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class StatusServer:
    def __init__(
        self, socket_path: Path, source: Callable[[], SiteView], scanner: Scanner | None = None
    ) -> None:
        self._socket_path = socket_path
        self._source = source
        self._scanner = scanner

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(site_to_json(self._source()))

    async def _scan(self, request: web.Request) -> web.Response:
        assert self._scanner is not None
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            return web.json_response(await self._scanner(body))
        except ValueError as exc:  # JSON errors included
            return web.json_response({"error": str(exc)}, status=400)

    async def run(self) -> None:
        app = web.Application()
        app.router.add_get("/status", self._status)
        if self._scanner is not None:
            app.router.add_post("/scan", self._scan)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self._socket_path.unlink()  # left over from a killed process
        site = web.UnixSite(runner, str(self._socket_path))
        try:
            await site.start()
            self._socket_path.chmod(0o660)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
