"""The loop as the app runs it (``run()`` in a task, real clock), and the per-device poller."""

from __future__ import annotations

import asyncio
import collections
import gc
from collections.abc import Callable

from structlog.testing import capture_logs

from edge_controller.domain.balancing import Site
from edge_controller.ports import DeviceUnavailable
from edge_controller.services.control.poller import Poller
from edge_controller.services.control.site_controller import (
    ConnectorSetup,
    LoopHooks,
    LoopTiming,
    SiteController,
)
from tests.unit.services.control.test_site_controller import GridMeter, MemoryCharger


async def _until(
    controller: SiteController, condition: Callable[[], bool], timeout_s: float = 10.0
) -> None:
    """Wait, snapshot by snapshot (one per loop iteration), until ``condition`` holds."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await controller.next_snapshot()


async def test_run_reacts_to_an_overload_reading_without_waiting_for_the_tick() -> None:
    log: list[tuple[str, float]] = []
    chargers = [MemoryCharger("c1:1", log), MemoryCharger("c2:1", log)]
    meter = GridMeter(chargers)
    ticks: list[int] = []
    controller = SiteController(
        "site",
        Site(grid_limit_a=32.0),
        [ConnectorSetup(c.name, c, poll_interval_s=0.02) for c in chargers],
        meter,
        # A tick far away: only a new grid reading can trigger the reaction.
        timing=LoopTiming(tick_s=3600.0, grid_poll_interval_s=0.02),
        hooks=LoopHooks(on_tick=lambda: ticks.append(1)),
    )
    task = asyncio.create_task(controller.run())
    try:
        await _until(controller, lambda: [c.offered_a for c in chargers] == [16.0, 16.0])
        # Settled: the chargers' own meters show the new current (building = grid - ours).
        await _until(
            controller,
            lambda: all(v.measured_current_a[0] == 16.0 for v in controller.snapshot().connectors),
        )
        meter.building_a = 20.0
        await _until(controller, lambda: [c.offered_a for c in chargers] == [6.0, 6.0])
        assert len(ticks) >= 2
        view = await asyncio.wait_for(controller.next_snapshot(), 10)
        assert view.site_id == "site" and len(view.connectors) == 2
    finally:
        await controller.shutdown()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [c.offered_a for c in chargers] == [6.0, 6.0]


async def test_poller_logs_once_per_outage_and_hands_out_only_fresh_values() -> None:
    now = [0.0]
    answers: list[int | Exception] = [1, DeviceUnavailable("t"), DeviceUnavailable("t"), 2]
    updates: list[int] = []

    async def read() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    poller: Poller[int] = Poller(
        "dev",
        read,
        interval_s=1,
        timeout_s=1,
        max_age_s=5,
        clock=lambda: now[0],
        on_update=updates.append,
    )
    with capture_logs() as logs:
        assert await poller.poll_once()
        assert poller.fresh() == 1
        assert not await poller.poll_once()
        assert not poller.available
        assert poller.fresh() == 1  # one missed poll does not void a young value
        assert not await poller.poll_once()
        now[0] = 5.5
        assert poller.fresh() is None  # silent too long: the caller assumes the worst
        assert await poller.poll_once()
    events = [e["event"] for e in logs if e.get("device") == "dev"]
    assert events == ["device not answering", "device answers again"]
    assert updates == [1, 2]
    assert poller.fresh() == 2
    now[0] = 11.0
    assert poller.fresh() is None  # too old
    view = poller.stats()
    assert view.errors == {"DeviceUnavailable": 2} and view.requests == 4
    assert view.latency_p50_ms is not None and view.latency_p99_ms is not None


async def test_poller_times_out_a_hanging_device() -> None:
    async def hang() -> int:
        await asyncio.sleep(3600)
        return 0

    poller: Poller[int] = Poller("dev", hang, interval_s=1, timeout_s=0.01, max_age_s=5)
    assert not await poller.poll_once()
    assert poller.stats().errors == {"TimeoutError": 1}
    assert not poller.available


async def test_a_sleeping_poller_holds_no_deque_and_a_refresh_wakes_it() -> None:
    reads, wanted, reached = [0], [100], asyncio.Event()

    async def read() -> int:
        reads[0] += 1
        if reads[0] >= wanted[0]:
            reached.set()
        return reads[0]

    def deques() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is collections.deque)

    before = deques()
    pollers = [
        Poller[int](f"dev{i}", read, interval_s=3600, timeout_s=1, max_age_s=5) for i in range(100)
    ]
    tasks = [asyncio.create_task(p.run()) for p in pollers]
    try:
        async with asyncio.timeout(10):
            await reached.wait()
        # An asyncio.Event per poller kept a deque of waiters (100 here); futures made only
        # while a poller sleeps keep none. Nor has a poller that never logged a logger.
        assert deques() - before < 10
        assert all(p._logger is None for p in pollers)
        wanted[0] = 101
        reached.clear()
        pollers[0].refresh()  # an hour before its next read
        async with asyncio.timeout(10):
            await reached.wait()
        assert pollers[0].latest == 101
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
