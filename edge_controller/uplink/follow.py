"""What every identity does on its own, whether connected or not, at its own pace, from one task
for the whole site instead of a task per identity: a waiting task is about 1.9 kB of the
gateway's memory, and at a thousand identities each second was a thousand timers and task
wake-ups. Two paces (``OcppUplink``): what an identity follows each second (its availability
applied, its display messages ended, its 2.x AvailabilityState under monitors, its meter
samples) and its charging profiles turned into limits (every few seconds, and at once when one
changes).

Each follower keeps its own pace: looked at, then looked at again ``wait_s`` after its look
ended, or at once when asked (``Pacer.soon``). Most looks decide and change things at once; one
with something to await (a commit, a CALL, a database read) runs that in a task of the uplink's
group made for it, and the follower waits for its end before its next look, so one waiting on
the database or the CSMS holds up no other.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.metering import Due

if TYPE_CHECKING:  # variable monitors are 2.x's: a 1.6 site runs without their code
    from edge_controller.uplink.v201.monitoring import AvailabilityWatch, Change

FOLLOW_S = 1.0


class Follow(Protocol):
    def look(self) -> Coroutine[Any, Any, None] | None:
        """What needs no wait, done; what is left to await, or None."""

    def wait_s(self) -> float:
        """Until the next look, from the end of this one."""


class Pacer:
    """Looks at each follower at its own pace from one task (``run``)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Follow]] = []
        self._entry: dict[Follow, int] = {}  # a follower's heap entry in force
        self._busy: set[Follow] = set()
        self._asked: set[Follow] = set()  # asked to look again while its look was under way
        self._order = itertools.count()  # also puts ties in time in the order scheduled
        self._woken: asyncio.Future[None] | None = None

    def add(self, follow: Follow) -> None:
        """Looked at from the start of ``run`` (or at once, when it runs)."""
        self._schedule(follow, 0.0)

    def soon(self, follow: Follow) -> None:
        """Look at ``follow`` at once, or right after its look under way."""
        if follow in self._busy:
            self._asked.add(follow)
        else:
            self._schedule(follow, 0.0)

    async def run(self, tasks: asyncio.TaskGroup) -> None:
        """Never returns; the looks that await run in ``tasks``."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()  # one due again at once waits for the next round, as a sleep(0)
            while self._due and self._due[0][0] <= now:
                _, entry, follow = heapq.heappop(self._due)
                if self._entry.get(follow) != entry:
                    continue  # moved earlier by ``soon``
                del self._entry[follow]
                rest = follow.look()
                if rest is None:
                    self._schedule(follow, follow.wait_s())
                else:
                    self._busy.add(follow)
                    tasks.create_task(self._finish(follow, rest))
            woken = self._woken = loop.create_future()
            timer = None
            if self._due:
                timer = loop.call_later(self._due[0][0] - loop.time(), _wake, woken)
            try:
                await woken
            finally:
                self._woken = None
                if timer is not None:
                    timer.cancel()

    async def _finish(self, follow: Follow, rest: Coroutine[Any, Any, None]) -> None:
        await rest
        self._busy.discard(follow)
        if follow in self._asked:
            self._asked.discard(follow)
            self._schedule(follow, 0.0)
        else:
            self._schedule(follow, follow.wait_s())

    def _schedule(self, follow: Follow, in_s: float) -> None:
        entry = next(self._order)
        self._entry[follow] = entry
        at_s = asyncio.get_running_loop().time() + in_s if in_s > 0 else 0.0
        heapq.heappush(self._due, (at_s, entry, follow))
        if self._woken is not None:
            _wake(self._woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


class IdentityFollow:
    """What one identity follows each second: the part decided at once, and what is left to
    await."""

    __slots__ = ("_reconcile", "_watch", "link")

    def __init__(
        self,
        link: IdentityLink,
        reconcile: Callable[[str], None],
        watch: AvailabilityWatch | None,
    ) -> None:
        """``reconcile(identity)``: applies the identity's availability (one callable for all)."""
        self.link = link
        self._reconcile = reconcile
        self._watch = watch

    def look(self) -> Coroutine[Any, Any, None] | None:
        self._reconcile(self.link.identity)
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
        metering = self.link.metering
        return FOLLOW_S if metering is None else metering.sleep_s(metering.now_s())
