"""The status server: GET /status returns the live SiteView as JSON on a Unix socket.

A Unix socket in the state directory needs no port in the config, is reached only from this
machine and is guarded by file permissions. GET /status only reads state, it never drives it.
The commissioning commands go through the daemon's open buses while it runs: POST /scan runs
`edge-controller scan` (reads only), POST /selftest the selftest's read-only items. One of them
at a time (a second is answered 409: two would double the probes on the line); request bodies
are bounded (a larger one is answered 413 unread).
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
MAX_REQUEST_BYTES = 4096  # a scan or selftest request is a few fields


Job = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class StatusServer:
    def __init__(
        self,
        socket_path: Path,
        source: Callable[[], SiteView],
        scanner: Job | None = None,
        selftest: Job | None = None,
    ) -> None:
        self._socket_path = socket_path
        self._source = source
        self._jobs = {
            path: job for path, job in (("/scan", scanner), ("/selftest", selftest)) if job
        }
        self._busy = asyncio.Lock()

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(site_to_json(self._source()))

    async def _job(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()  # past MAX_REQUEST_BYTES aiohttp answers 413
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:  # JSON errors included
            return web.json_response({"error": str(exc)}, status=400)
        if self._busy.locked():
            error = "a scan or selftest is already running through the daemon: try again later"
            return web.json_response({"error": error}, status=409)
        async with self._busy:
            try:
                return web.json_response(await self._jobs[request.path](body))
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)

    async def run(self) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/status", self._status)
        for path in self._jobs:
            app.router.add_post(path, self._job)
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
