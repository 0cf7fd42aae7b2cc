"""The status server: GET /status returns the live SiteView as JSON on a Unix socket.

A Unix socket in the state directory needs no port in the config, is reached only from this
machine and is guarded by file permissions. GET /status only reads state, it never drives it.
The commissioning commands go through the daemon's open buses while it runs: POST /scan runs
`edge-controller scan` (reads only), POST /selftest the selftest's read-only items. One of them
at a time (a second is answered 409: two would double the probes on the line). POST
/outbox/requeue puts parked outbox messages back in line (`edge-controller outbox`); it touches
no bus, so it never waits for a scan. Requests are bounded in size (http_wire) and in the time
they take to arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from edge_controller.api.codec import site_to_json
from edge_controller.api.http_wire import (
    MAX_HEAD_BYTES,
    HttpError,
    Request,
    json_response,
    read_request,
)
from edge_controller.api.jobs import BUSY, Busy, CommissioningRuns, Job, Run
from edge_controller.domain.snapshot import SiteView

STATUS_SOCKET = "status.sock"
REQUEUE = "/outbox/requeue"
REQUEST_TIMEOUT_S = 10.0  # a request not whole by then is dropped (a stuck client holds nothing)


async def _run(job: Job, data: dict[str, Any]) -> tuple[HTTPStatus, Any]:
    try:
        return HTTPStatus.OK, await job(data)
    except ValueError as exc:
        return HTTPStatus.BAD_REQUEST, {"error": str(exc)}


class StatusServer:
    def __init__(
        self,
        socket_path: Path,
        source: Callable[[], SiteView],
        scanner: Job | None = None,
        selftest: Job | None = None,
        requeue: Job | None = None,
        *,
        runs: CommissioningRuns | None = None,
    ) -> None:
        """``runs``: the daemon's scan and selftest, shared with the console (one at a time
        whoever starts them); without it, ``scanner`` and ``selftest`` run here alone."""
        self._socket_path = socket_path
        self._source = source
        self._jobs = {
            path: job
            for path, job in (("/scan", scanner), ("/selftest", selftest), (REQUEUE, requeue))
            if job
        }
        self._busy = asyncio.Lock()
        self._runs = runs
        if runs is not None:
            self._jobs |= {f"/{kind}": job for kind, job in runs.jobs.items()}
        self._connections: set[asyncio.Task[None]] = set()

    async def _answer(self, request: Request, body: bytes) -> tuple[HTTPStatus, Any]:
        if request.path == "/status" and request.method == "GET":
            return HTTPStatus.OK, site_to_json(self._source())
        job = self._jobs.get(request.path)
        if job is None or request.method != "POST":
            known = request.path == "/status" or job is not None
            status = HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND
            return status, {"error": f"{request.method} {request.path[:80]} is not served"}
        try:
            data = json.loads(body)
        except ValueError as exc:
            return HTTPStatus.BAD_REQUEST, {"error": f"not JSON: {exc}"}
        if not isinstance(data, dict):
            return HTTPStatus.BAD_REQUEST, {"error": "expected a JSON object"}
        if request.path == REQUEUE:
            return await _run(job, data)
        if self._runs is not None:
            try:
                run = self._runs.begin(request.path[1:], "command line")
            except Busy:
                return HTTPStatus.CONFLICT, {"error": BUSY}
            return await _run(lambda d: self._runs_finish(run, d), data)
        if self._busy.locked():
            return HTTPStatus.CONFLICT, {"error": BUSY}
        async with self._busy:
            return await _run(job, data)

    async def _runs_finish(self, run: Run, data: dict[str, Any]) -> dict[str, Any]:
        assert self._runs is not None
        return await self._runs.finish(run, data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    request, body = await read_request(reader)
                status, data = await self._answer(request, body)
            except HttpError as exc:
                status, data = exc.status, {"error": str(exc)}
            except TimeoutError:
                status, data = HTTPStatus.REQUEST_TIMEOUT, {"error": "the request took too long"}
            with contextlib.suppress(ConnectionError):
                writer.write(json_response(status, data))
                await writer.drain()
        except asyncio.CancelledError:
            # Only run() cancels a connection (the server stops): the stream's callback would
            # report a cancelled handler as an error.
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def run(self) -> None:
        self._socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self._socket_path.unlink()  # left over from a killed process
        server = await asyncio.start_unix_server(
            self._serve, path=str(self._socket_path), limit=MAX_HEAD_BYTES
        )
        try:
            self._socket_path.chmod(0o660)
            await server.serve_forever()
        finally:
            server.close()
            for task in list(self._connections):  # a scan in flight ends with the daemon
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
