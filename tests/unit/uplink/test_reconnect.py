"""Every identity's connections from one task (``uplink/reconnect.py``): failed attempts back
off by their count in a row, a reboot connects at once after its security event, an attempt's
own error ends the uplink, and on stop an attempt that swallows a cancellation is cancelled
again until it has ended."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from edge_controller.uplink.reconnect import Reconnecting


class Script:
    """Each identity's outcomes in turn; the last one repeats after ``hold`` is set."""

    def __init__(self, outcomes: dict[str, list[str]]) -> None:
        self.outcomes = outcomes
        self.attempts: list[str] = []
        self.rebooted: list[str] = []
        self.delays: list[int] = []
        self.cancelled: list[str] = []
        self.hold = asyncio.Event()

    async def attempt(self, identity: str) -> str:
        self.attempts.append(identity)
        left = self.outcomes[identity]
        if len(left) == 1:
            await self.hold.wait()
        return left.pop(0) if len(left) > 1 else left[0]

    async def reboot(self, identity: str) -> None:
        self.rebooted.append(identity)

    def delay_s(self, failures: int) -> float:
        self.delays.append(failures)
        return 0.0

    def cancel(self, identity: str) -> None:
        self.cancelled.append(identity)

    def reconnecting(self) -> Reconnecting:
        return Reconnecting(self.attempt, self.reboot, self.delay_s, self.cancel)


async def _until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 - polls the fakes' records
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 30)


async def test_failures_back_off_by_their_count_and_a_reboot_connects_at_once() -> None:
    script = Script(
        {
            "cp1": ["failed", "failed", "was_online", "failed", "online for good"],
            "cp2": ["reboot", "online for good"],
        }
    )
    runner = asyncio.create_task(script.reconnecting().run(["cp1", "cp2"]))
    await _until(lambda: script.attempts.count("cp1") == 5 and script.attempts.count("cp2") == 2)
    assert script.delays == [1, 2, 0, 1]  # cp1's; cp2's reboot waited for nothing
    assert script.rebooted == ["cp2"]
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_an_attempt_s_own_error_ends_it() -> None:
    class Broken(Exception):
        """An attempt's own bug, not a failed connection."""

    async def attempt(identity: str) -> str:
        raise Broken(identity)

    rebooted: list[str] = []

    async def reboot(identity: str) -> None:
        rebooted.append(identity)

    reconnecting = Reconnecting(attempt, reboot, lambda failures: 0.0, lambda identity: None)
    with pytest.raises(Broken):
        await asyncio.wait_for(reconnecting.run(["cp1"]), 30)
    assert rebooted == []


async def test_on_stop_an_attempt_that_swallows_a_cancellation_is_cancelled_again() -> None:
    swallowed = asyncio.Event()

    async def attempt(identity: str) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # as 3.11 wait_for may: the first cancellation is lost
        await asyncio.Event().wait()
        return "was_online"

    rebooted: list[str] = []

    async def reboot(identity: str) -> None:
        rebooted.append(identity)

    told: list[str] = []
    reconnecting = Reconnecting(attempt, reboot, lambda failures: 0.0, told.append)
    runner = asyncio.create_task(reconnecting.run(["cp1", "cp2"]))
    await asyncio.sleep(0.05)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(runner, 30)
    assert swallowed.is_set()
    assert sorted(told) == ["cp1", "cp1", "cp2", "cp2"]
    assert rebooted == []
