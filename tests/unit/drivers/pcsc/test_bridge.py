"""The thread-to-asyncio tap queue: bounded, the oldest tap is dropped on overflow."""

from __future__ import annotations

import asyncio
import threading

import pytest

from edge_controller.drivers.pcsc.bridge import DropOldestQueue


async def test_items_from_a_thread_arrive_in_order() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(asyncio.get_running_loop(), 8)

    def produce() -> None:
        for item in range(3):
            queue.put_threadsafe(item)

    thread = threading.Thread(target=produce)
    thread.start()
    received = [await asyncio.wait_for(queue.get(), 5) for _ in range(3)]
    thread.join()
    assert received == [0, 1, 2]


async def test_overflow_drops_the_oldest_and_reports_it() -> None:
    dropped: list[int] = []
    queue: DropOldestQueue[int] = DropOldestQueue(asyncio.get_running_loop(), 2, dropped.append)
    for item in range(5):
        queue.put_nowait(item)
    assert dropped == [0, 1, 2]
    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [3, 4]


def test_put_after_the_loop_closed_is_dropped_not_raised() -> None:
    loop = asyncio.new_event_loop()
    dropped: list[str] = []
    queue: DropOldestQueue[str] = DropOldestQueue(loop, 2, dropped.append)
    loop.close()
    queue.put_threadsafe("late tap")
    assert dropped == ["late tap"]


def test_zero_size_is_refused() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="maxsize"):
            DropOldestQueue(loop, 0)
    finally:
        loop.close()
