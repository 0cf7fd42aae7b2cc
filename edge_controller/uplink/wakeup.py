"""A wake-up signal with a timeout that never swallows a cancellation.

Python 3.11's ``asyncio.timeout``/``wait_for`` can turn a cancellation that races with the
timeout into a TimeoutError; a plain future resolved by ``call_later`` cannot.
"""

from __future__ import annotations

import asyncio


class Wakeup:
    def __init__(self) -> None:
        self._waiter: asyncio.Future[bool] | None = None
        self._pending = False

    def set(self) -> None:
        self._pending = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)

    async def wait(self, timeout_s: float) -> bool:
        """True when woken (or a wake-up was pending), False after ``timeout_s``."""
        if self._pending:
            self._pending = False
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout_s, _expire, waiter)
        try:
            woken = await waiter
        finally:
            timer.cancel()
            self._waiter = None
        self._pending = False
        return woken


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class OutboxWakeup:
    """The outbox wake-up channel: the session side sets it after committing messages, and
    every identity's sender waits on its own ``Wakeup`` from ``subscribe``. Created before
    both, so neither needs the other."""

    def __init__(self) -> None:
        self._subscribers: list[Wakeup] = []

    def subscribe(self) -> Wakeup:
        wakeup = Wakeup()
        self._subscribers.append(wakeup)
        return wakeup

    def set(self) -> None:
        for wakeup in self._subscribers:
            wakeup.set()
