"""A TCP relay between the station and a CSMS whose path can be cut (its connections closed,
new ones refused at once: the CSMS unreachable) and restored."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.ports import free_port


class Relay:
    def __init__(self, target_port: int, port: int) -> None:
        self.target_port, self.port = target_port, port
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.close()

    def restore(self) -> None:
        self.up = True

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@asynccontextmanager
async def relay(target_port: int) -> AsyncIterator[Relay]:
    port = free_port()
    found = Relay(target_port, port)
    server = await asyncio.start_server(found.handle, "127.0.0.1", port)
    try:
        yield found
    finally:
        found.cut()
        server.close()
