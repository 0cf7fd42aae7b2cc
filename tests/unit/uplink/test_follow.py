"""One task looks at every identity at its own pace (``uplink/follow.py``): an identity whose
look has something to await holds up no other and is not looked at again before it ended, and
one asked to look again (a charging profile changed) does so at once, not at its pace."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from edge_controller.uplink.follow import Pacer

PACE_S = 0.01
NEVER_S = 3600.0


class Counted:
    """Counts its looks; while ``gate`` is given, a look has to wait for it."""

    def __init__(self, gate: asyncio.Event | None = None, pace_s: float = PACE_S) -> None:
        self.looks = 0
        self.finished = 0
        self.gate = gate
        self.pace_s = pace_s

    def look(self) -> Coroutine[Any, Any, None] | None:
        self.looks += 1
        return None if self.gate is None else self._wait()

    async def _wait(self) -> None:
        assert self.gate is not None
        await self.gate.wait()
        self.finished += 1

    def wait_s(self) -> float:
        return self.pace_s


async def _until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 - polls the fakes' counters
            await asyncio.sleep(PACE_S)

    await asyncio.wait_for(poll(), 30)


async def test_an_identity_awaiting_its_look_holds_up_no_other_and_is_not_looked_at_again() -> None:
    gate = asyncio.Event()
    slow, quick = Counted(gate), Counted()
    pacer = Pacer()
    pacer.add(slow)
    pacer.add(quick)
    tasks_before = len(asyncio.all_tasks())
    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(pacer.run(tasks))
        await _until(lambda: quick.looks >= 5)
        assert slow.looks == 1 and slow.finished == 0
        # The pacer and the one look being awaited: no task per identity.
        assert len(asyncio.all_tasks()) - tasks_before == 2
        gate.set()
        await _until(lambda: slow.looks >= 3)
        assert slow.finished >= 2
        runner.cancel()


async def test_a_thousand_identities_are_looked_at_from_one_task() -> None:
    follows = [Counted() for _ in range(1000)]
    pacer = Pacer()
    for follow in follows:
        pacer.add(follow)
    tasks_before = len(asyncio.all_tasks())
    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(pacer.run(tasks))
        await _until(lambda: min(f.looks for f in follows) >= 2)
        assert len(asyncio.all_tasks()) - tasks_before == 1
        runner.cancel()


async def test_one_asked_to_look_again_does_so_at_once_or_right_after_its_look() -> None:
    """Its pace is an hour: only ``soon`` brings a second look within the test."""
    idle = Counted(pace_s=NEVER_S)
    gate = asyncio.Event()
    busy = Counted(gate, pace_s=NEVER_S)
    pacer = Pacer()
    pacer.add(idle)
    pacer.add(busy)
    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(pacer.run(tasks))
        await _until(lambda: idle.looks == 1 and busy.looks == 1)
        pacer.soon(idle)
        await _until(lambda: idle.looks == 2)
        # Asked while its look waits: once more when that ended, not twice at once.
        pacer.soon(busy)
        pacer.soon(busy)
        await asyncio.sleep(0.05)
        assert busy.looks == 1
        gate.set()
        await _until(lambda: busy.looks == 2)
        assert busy.finished >= 1
        runner.cancel()
