"""A count of changes that waiters can wait on: each change is a new ``version``, and every
waiter on ``changed`` learns of it at once (live pages stream from it)."""

from __future__ import annotations

import asyncio
import contextlib


class Versions:
    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()  # the next change wakes only those waiting after this

    async def changed(self, seen: int, within_s: float) -> bool:
        """Wait until a version after ``seen`` exists (False: none within ``within_s``)."""
        if self.version != seen:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self._changed.wait()
                return True
        return False
