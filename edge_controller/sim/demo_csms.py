"""The bench CSMS as a child process of the demo day, so the day can take it down and back up.

Its HTTP side (``GET /state``, ``GET /send``, see csms.py) is how the day acts as the operator's
backend: remote starts and the local authorization list.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from edge_controller.log import get_logger

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
_log = get_logger("demo.csms")


class CsmsUnavailable(RuntimeError):
    """The CSMS is down, or the charge point is not connected to it."""


class CsmsProcess:
    """Starts/stops ``edge-controller csms`` on ``host:port``; the OCPP messages it receives go
    to ``log_path`` (JSON lines), its own output to ``csms.log`` next to it."""

    def __init__(self, host: str, port: int, log_path: Path) -> None:
        self.host, self.port, self.log_path = host, port, log_path
        self.process_log = log_path.parent / "csms.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        if self.running:
            return
        with self.process_log.open("ab") as output:  # the child keeps its own descriptor
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge_controller", "csms", "--host", self.host,
                "--port", str(self.port), "--log", str(self.log_path),
                stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not await self._listening():
            if self._process.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise CsmsUnavailable(f"the bench CSMS did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.1)

    async def _listening(self) -> bool:
        try:
            async with asyncio.timeout(1.0):
                _, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        if not self.running:
            raise CsmsUnavailable("the bench CSMS is down")
        url = f"http://{self.host}:{self.port}{path}"
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, params=params) as response,
            ):
                data: dict[str, Any] = await response.json(content_type=None)
                if response.status >= 400:
                    raise CsmsUnavailable(str(data.get("error")))
                return data
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise CsmsUnavailable(f"bench CSMS request failed: {exc!r}") from exc

    async def open_page(self, path: str) -> tuple[int, str]:
        """A page of the bench CSMS as a browser gets it (its payment page): status and text."""
        if not self.running:
            raise CsmsUnavailable("the bench CSMS is down")
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"http://{self.host}:{self.port}{path}") as response,
            ):
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CsmsUnavailable(f"bench CSMS request failed: {exc!r}") from exc

    async def connected(self) -> list[str]:
        """The identities connected now (empty when the CSMS is down)."""
        try:
            state = await self._get("/state")
        except CsmsUnavailable:
            return []
        return [str(identity) for identity in state.get("connected", [])]

    async def send(self, identity: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CSMS→charge point message; the charge point's answer."""
        if identity not in await self.connected():
            raise CsmsUnavailable(f"{identity} is not connected to the CSMS")
        params = {"identity": identity, "action": action, "payload": json.dumps(payload)}
        return await self._get("/send", params)
