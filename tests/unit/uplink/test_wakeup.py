"""The wake-up primitive: wakes, times out, and never swallows a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.uplink.wakeup import Wakeup


async def test_wakes_times_out_and_remembers_an_early_set() -> None:
    wakeup = Wakeup()
    assert await wakeup.wait(0.01) is False
    wakeup.set()
    assert await wakeup.wait(10) is True  # set before waiting is not lost
    waiter = asyncio.create_task(wakeup.wait(10))
    await asyncio.sleep(0)
    wakeup.set()
    assert await waiter is True


async def test_cancellation_always_wins_even_at_the_timeout() -> None:
    for delay_s in (0.0, 0.001, 0.002):
        wakeup = Wakeup()
        waiter = asyncio.create_task(wakeup.wait(0.001))
        await asyncio.sleep(delay_s)
        waiter.cancel()
        try:
            await waiter
        except asyncio.CancelledError:
            continue
        # Finished before the cancel landed: then it must have reported a plain timeout.
        assert waiter.result() is False
    with pytest.raises(asyncio.CancelledError):
        task = asyncio.create_task(Wakeup().wait(10))
        await asyncio.sleep(0)
        task.cancel()
        await task
