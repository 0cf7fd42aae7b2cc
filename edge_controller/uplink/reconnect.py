"""Every identity's connections, one after another with a back-off between failed attempts,
kept from one task for the whole site instead of a task per identity that waited on each
connection and slept between them (a waiting task is about 1.9 kB of the gateway's memory, a
thousand times over at a thousand identities).

Each attempt runs in a task of its own, made for it and not in a task group: a Python 3.11
TaskGroup failing in ``__aexit__`` leaves a stray cancel request on the task it runs in, and
3.11 ``wait_for`` (inside the ocpp library) can swallow a cancellation. So when the uplink
stops, each attempt still running is cancelled again until it has ended.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

# How an attempt ended (``OcppUplink._connect_once``).
REBOOT, WAS_ONLINE = "reboot", "was_online"
CANCEL_AGAIN_S = 1.0


class Reconnecting:
    """``attempt(identity)`` over and over for each identity: at once after a reboot (with
    ``rebooted(identity)`` awaited first), else after ``delay_s(failures in a row)``."""

    def __init__(
        self,
        attempt: Callable[[str], Coroutine[Any, Any, str]],
        rebooted: Callable[[str], Coroutine[Any, Any, None]],
        delay_s: Callable[[int], float],
        cancelled: Callable[[str], None],
    ) -> None:
        """``cancelled(identity)``: told each time a running attempt is cancelled again."""
        self._attempt, self._rebooted = attempt, rebooted
        self._delay_s, self._cancelled = delay_s, cancelled
        self._running: dict[str, asyncio.Task[str]] = {}
        self._waiting: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._failed: asyncio.Future[None] | None = None

    async def run(self, identities: Iterable[str]) -> None:
        """Never returns; an attempt's own error (one it does not turn into an outcome) ends
        it, as it ended the uplink before."""
        self._failed = asyncio.get_running_loop().create_future()
        for identity in identities:
            self._start(identity, rebooted=False)
        try:
            await self._failed
        finally:
            self._failed = None
            for timer in self._waiting.values():
                timer.cancel()
            self._waiting.clear()
            await self._cancel_running()

    def _start(self, identity: str, *, rebooted: bool) -> None:
        self._waiting.pop(identity, None)
        if self._failed is None or self._failed.done():
            return  # stopping
        # Named after the identity, which its end reads: no wrapper per attempt (a coroutine
        # frame, a partial: some 0.5 kB while connected) beyond the one after a reboot.
        attempt = self._after_reboot(identity) if rebooted else self._attempt(identity)
        task = asyncio.get_running_loop().create_task(attempt, name=identity)
        self._running[identity] = task
        task.add_done_callback(self._ended)

    async def _after_reboot(self, identity: str) -> str:
        await self._rebooted(identity)
        return await self._attempt(identity)

    def _ended(self, task: asyncio.Task[str]) -> None:
        identity = task.get_name()
        if self._running.get(identity) is task:
            del self._running[identity]
        if task.cancelled() or self._failed is None or self._failed.done():
            return
        error = task.exception()
        if error is not None:
            self._failed.set_exception(error)
            return
        outcome = task.result()
        if outcome == REBOOT:
            self._failures[identity] = 0
            self._start(identity, rebooted=True)
            return
        failures = 0 if outcome == WAS_ONLINE else self._failures.get(identity, 0) + 1
        self._failures[identity] = failures
        loop = asyncio.get_running_loop()
        start = functools.partial(self._start, identity, rebooted=False)
        self._waiting[identity] = loop.call_later(self._delay_s(failures), start)

    async def _cancel_running(self) -> None:
        while running := {i: t for i, t in self._running.items() if not t.done()}:
            for identity, task in running.items():
                task.cancel()
                self._cancelled(identity)
            await asyncio.wait(running.values(), timeout=CANCEL_AGAIN_S)
