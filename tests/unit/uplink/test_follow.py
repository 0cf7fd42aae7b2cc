"""One task looks at every identity at its own pace (``uplink/follow.py``): an identity whose
look has something to await holds up no other, and is not looked at again before it ended."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from edge_controller.uplink.follow import follow_all

PACE_S = 0.01


class Counted:
    """Counts its looks; a look returns work while ``blocked`` is set, which waits for it."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.looks = 0
        self.finished = 0
        self.gate = gate

    def look(self) -> Coroutine[Any, Any, None] | None:
        self.looks += 1
        return None if self.gate is None else self._wait()

    async def _wait(self) -> None:
        assert self.gate is not None
        await self.gate.wait()
        self.finished += 1

    def wait_s(self) -> float:
        return PACE_S


async def _until(predicate: Any) -> None:
    while not predicate():  # noqa: ASYNC110 - polls the fakes' counters
        await asyncio.sleep(PACE_S)


async def test_an_identity_awaiting_its_look_holds_up_no_other_and_is_not_looked_at_again() -> None:
    gate = asyncio.Event()
    slow, quick = Counted(gate), Counted()
    tasks_before = len(asyncio.all_tasks())
    async with asyncio.TaskGroup() as tasks:
        follower = tasks.create_task(follow_all([slow, quick], tasks))
        await asyncio.wait_for(_until(lambda: quick.looks >= 5), 10)
        assert slow.looks == 1 and slow.finished == 0
        # The follower and the one look being awaited: no task per identity.
        assert len(asyncio.all_tasks()) - tasks_before == 2
        gate.set()
        await asyncio.wait_for(_until(lambda: slow.looks >= 3), 10)
        assert slow.finished >= 2
        follower.cancel()


async def test_a_thousand_identities_are_looked_at_from_one_task() -> None:
    follows = [Counted() for _ in range(1000)]
    tasks_before = len(asyncio.all_tasks())
    async with asyncio.TaskGroup() as tasks:
        follower = tasks.create_task(follow_all(follows, tasks))
        await asyncio.wait_for(_until(lambda: min(f.looks for f in follows) >= 2), 30)
        assert len(asyncio.all_tasks()) - tasks_before == 1
        follower.cancel()
