"""Thread-to-asyncio hand-over of taps through a bounded queue.

Overflow policy: when the consumer is ``maxsize`` items behind, the OLDEST item is dropped
and ``on_drop`` is told, because the person who tapped last is the one at the charger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        maxsize: int,
        on_drop: Callable[[T], None] = lambda item: None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._loop = loop
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self._on_drop = on_drop

    def put_threadsafe(self, item: T) -> None:
        """Called from any thread; never blocks. Dropped when the loop has already closed."""
        if self._loop.is_closed():
            self._on_drop(item)
            return
        self._loop.call_soon_threadsafe(self.put_nowait, item)

    def put_nowait(self, item: T) -> None:
        """Called on the loop's thread."""
        if self._queue.full():
            self._on_drop(self._queue.get_nowait())
        self._queue.put_nowait(item)

    async def get(self) -> T:
        return await self._queue.get()

    def qsize(self) -> int:
        return self._queue.qsize()
