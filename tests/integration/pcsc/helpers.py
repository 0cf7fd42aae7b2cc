"""Helpers for the PC/SC tests: a token collector and bounded waits (never timing assertions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from edge_controller.domain.model import Token
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.drivers.pcsc.reader import PcscTokenReader

WAIT_S = 15.0


class Collector:
    def __init__(self, reader: PcscTokenReader, reader_ids: Sequence[str]) -> None:
        self.reader, self.reader_ids = reader, reader_ids
        self.queue: asyncio.Queue[Token] = asyncio.Queue()

    async def consume(self) -> None:
        async for token in self.reader.tokens():
            self.queue.put_nowait(token)

    async def next(self) -> Token:
        return await asyncio.wait_for(self.queue.get(), WAIT_S)

    def available(self) -> dict[str, bool]:
        """Every configured reader; one not looked for yet (no view) counts as unavailable."""
        return readers_available(self.reader, self.reader_ids)

    def errors(self, reader_id: str) -> dict[str, int]:
        return next(v.errors for v in self.reader.devices() if v.device_id == reader_id)


@asynccontextmanager
async def collecting(
    configs: Sequence[ReaderConfig], *, wait_available: bool = True
) -> AsyncIterator[Collector]:
    """Run a PcscTokenReader for ``configs``; yields once its readers are available."""
    collector = Collector(
        PcscTokenReader(configs, wait_timeout_ms=500), [c.reader_id for c in configs]
    )
    async with asyncio.TaskGroup() as group:
        task = group.create_task(collector.consume())
        if wait_available:
            await wait_until(lambda: all(collector.available().values()), "readers available")
        try:
            yield collector
        finally:
            task.cancel()


def readers_available(reader: PcscTokenReader, reader_ids: Sequence[str]) -> dict[str, bool]:
    shown = {view.device_id: view.available for view in reader.devices()}
    return {reader_id: shown.get(reader_id, False) for reader_id in reader_ids}


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
