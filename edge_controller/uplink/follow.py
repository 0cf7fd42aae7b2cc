"""What every identity follows whether connected or not (its availability applied, its display
messages ended, its 2.x AvailabilityState under monitors, its meter samples), from one task for
the whole site instead of a task per identity: a waiting task is about 1.9 kB of the gateway's
memory, and at a thousand identities each second was a thousand timers and task wake-ups.

Each identity keeps its own pace: looked at, then looked at again ``wait_s`` after its look
ended (a second, or the next clock-aligned boundary when that comes first). Most looks decide
and change things at once; one with something to commit or send (samples, monitored changes)
runs that in a task of the uplink's group made for it, and the identity waits for its end
before its next look, so one identity waiting on the database or the CSMS holds up no other.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.metering import Due
from edge_controller.uplink.v201.monitoring import AvailabilityWatch, Change

FOLLOW_S = 1.0


class Follow(Protocol):
    def look(self) -> Coroutine[Any, Any, None] | None: ...
    def wait_s(self) -> float: ...


class IdentityFollow:
    """One identity's look: the part decided at once, and what is left to await."""

    __slots__ = ("_reconcile", "_watch", "link")

    def __init__(
        self, link: IdentityLink, reconcile: Callable[[], None], watch: AvailabilityWatch | None
    ) -> None:
        self.link = link
        self._reconcile = reconcile
        self._watch = watch

    def look(self) -> Coroutine[Any, Any, None] | None:
        """Apply what needs no wait; the commits and sends left, or None when there are none."""
        self._reconcile()
        link = self.link
        if link.display is not None:
            link.display.look()
        changes = self._watch.changes() if self._watch is not None else []
        due = link.metering.due(link.metering.now_s()) if link.metering is not None else []
        if not changes and not due:
            return None
        return self._finish(changes, due)

    async def _finish(self, changes: Sequence[Change], due: Sequence[Due]) -> None:
        if changes and self._watch is not None:
            await self._watch.commit(changes)
        if due and self.link.metering is not None:
            await self.link.metering.record(due)

    def wait_s(self) -> float:
        """Until the next look, from the end of this one."""
        metering = self.link.metering
        return FOLLOW_S if metering is None else metering.sleep_s(metering.now_s())


async def follow_all(follows: Sequence[Follow], tasks: asyncio.TaskGroup) -> None:
    """Look at each identity at its own pace, from this one task; never returns."""
    loop = asyncio.get_running_loop()
    order = itertools.count()  # ties in time go in the order they were scheduled
    due: list[tuple[float, int, Follow]] = [(loop.time(), next(order), f) for f in follows]
    heapq.heapify(due)
    woken: asyncio.Future[None] | None = None

    def again(follow: Follow) -> None:
        heapq.heappush(due, (loop.time() + follow.wait_s(), next(order), follow))
        if woken is not None:
            _wake(woken)

    async def finish(follow: Follow, rest: Coroutine[Any, Any, None]) -> None:
        await rest
        again(follow)

    while True:
        now = loop.time()  # one looked at again at once waits for the next round, as a sleep(0)
        while due and due[0][0] <= now:
            follow = heapq.heappop(due)[2]
            rest = follow.look()
            if rest is None:
                again(follow)
            else:
                tasks.create_task(finish(follow, rest))
        woken = loop.create_future()
        timer = None if not due else loop.call_later(due[0][0] - loop.time(), _wake, woken)
        try:
            await woken
        finally:
            woken = None
            if timer is not None:
                timer.cancel()


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
