"""Each poller read ends at its timeout, timed by one timer for every read under way on the loop
(``ReadDeadlines``) rather than a timer a read; a read that ended is never cancelled later, and
a cancellation from outside stays one. The read latency's p99 is had without the whole stats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from edge_controller.ports import DeviceUnavailable
from edge_controller.services.control.poller import Poller


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the timers set on it."""

    timers = 0

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,
                context: Any = None) -> asyncio.TimerHandle:  # fmt: skip
        self.timers += 1
        return super().call_at(when, callback, *args, context=context)


class Device:
    """Answers each read after the loop turned once, or never while ``silent``."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.answered = 0

    async def read(self) -> int:
        if self.silent:
            await asyncio.Event().wait()
        await asyncio.sleep(0)
        self.answered += 1
        return self.answered


def poller(device: Device, timeout_s: float, name: str = "c:1") -> Poller[int]:
    return Poller(name, device.read, interval_s=1, timeout_s=timeout_s, max_age_s=5)


def test_a_hundred_reads_under_way_set_one_timer() -> None:
    async def reads() -> int:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, CountingLoop)
        pollers = [poller(Device(), 3.5, f"c:{n}") for n in range(100)]
        before = loop.timers
        answered = await asyncio.gather(*(p.poll_once() for p in pollers))
        assert answered == [True] * 100 and [p.latest for p in pollers] == [1] * 100
        return loop.timers - before

    with asyncio.Runner(loop_factory=CountingLoop) as runner:
        assert runner.run(reads()) == 1


async def test_a_silent_device_fails_at_its_timeout_while_the_others_answer() -> None:
    silent, answering = Device(silent=True), Device()
    slow = poller(silent, 0.05, "silent")
    fine = [poller(answering, 30.0, f"c:{n}") for n in range(3)]
    async with asyncio.timeout(10):  # a guard: a lost deadline would hang here
        results = await asyncio.gather(slow.poll_once(), *(p.poll_once() for p in fine))
    assert results == [False, True, True, True]
    assert slow.stats().errors == {"TimeoutError": 1} and not slow.available
    assert all(p.stats().errors == {} for p in fine)


async def test_a_shorter_timeout_begun_after_a_longer_one_ends_first() -> None:
    """The one timer is set for the earliest deadline, not the first read's."""
    long_wait = asyncio.create_task(poller(Device(silent=True), 60.0, "long").poll_once())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        assert not await poller(Device(silent=True), 0.05, "short").poll_once()
    assert not long_wait.done()
    long_wait.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_wait


async def test_a_read_that_answered_is_not_cancelled_at_its_deadline() -> None:
    one = poller(Device(), 0.05)
    assert await one.poll_once()
    await asyncio.sleep(0.1)  # past the deadline the read had: this task goes on
    assert await one.poll_once() and one.latest == 2


async def test_a_cancel_from_outside_stays_a_cancel_and_the_next_read_is_timed() -> None:
    silent = Device(silent=True)
    one = poller(silent, 30.0)
    task = asyncio.create_task(one.poll_once())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert one.stats().errors == {}  # not counted as the device's failure
    async with asyncio.timeout(10):
        one.timeout_s = 0.05
        assert not await one.poll_once()
    assert one.stats().errors == {"TimeoutError": 1}


async def test_a_device_error_is_counted_as_before() -> None:
    async def refused() -> int:
        raise DeviceUnavailable("c:1: no answer (timeout)")

    one: Poller[int] = Poller("c:1", refused, interval_s=1, timeout_s=1, max_age_s=5)
    assert not await one.poll_once()
    assert one.stats().errors == {"DeviceUnavailable": 1}


async def test_the_latency_p99_alone_is_the_one_of_the_stats() -> None:
    one = poller(Device(), 1.0)
    assert one.latency_p99_ms() is None  # none before two answers
    for _ in range(5):
        assert await one.poll_once()
        assert one.latency_p99_ms() == one.stats().latency_p99_ms
    assert one.latency_p99_ms() is not None
