"""A CSMS that speaks raw frames, to throw malformed input at the charge point."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


class RawCsms:
    def __init__(self) -> None:
        self.replies: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.connection: ServerConnection | None = None
        self.connections = 0
        self.close_codes: list[int | None] = []  # how each connection was closed, in order
        self.ready = asyncio.Event()
        self.actions: list[str] = []  # of the CALLs received, in order

    async def _handler(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.connections += 1
        try:
            async for raw in connection:
                message = json.loads(raw)
                if message[0] == 2:
                    self.actions.append(message[2])
                    await connection.send(json.dumps([3, message[1], self._answer(message[2])]))
                    if message[2] == "BootNotification":
                        self.ready.set()
                else:
                    await self.replies.put(message)
        finally:
            self.close_codes.append(connection.close_code)

    @staticmethod
    def _answer(action: str) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": 300}
        if action == "Heartbeat":
            return {"currentTime": now}
        return {}

    async def exchange(self, frame: str | bytes, timeout_s: float = 5.0) -> list[Any]:
        assert self.connection is not None
        await self.connection.send(frame)
        return await asyncio.wait_for(self.replies.get(), timeout_s)


@asynccontextmanager
async def raw_csms(subprotocol: str = "ocpp1.6") -> AsyncIterator[tuple[RawCsms, int]]:
    csms = RawCsms()
    server = await serve(csms._handler, "127.0.0.1", 0, subprotocols=[subprotocol], max_size=2**24)  # type: ignore[list-item]
    try:
        yield csms, next(iter(server.sockets)).getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
