"""Connections lost together share one collector run; none runs while the collector is held
off (an overload being answered), and a connection lost over and over waits for the gap."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

from edge_controller.uplink.collect import LossCollector

AFTER_S = 0.01
SETTLE_S = 0.2  # well past AFTER_S: a second run, if any were due, would have come


async def wait_for(done: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):  # a guard, not a measurement
        while not done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def counting() -> tuple[list[int], LossCollector, LossCollector]:
    runs: list[int] = []
    quick = LossCollector(lambda: runs.append(1), after_s=AFTER_S, gap_s=0.0)
    spaced = LossCollector(lambda: runs.append(1), after_s=AFTER_S, gap_s=3600.0)
    return runs, quick, spaced


async def test_a_thousand_losses_at_once_share_one_run() -> None:
    runs, collector, _ = counting()
    for _ in range(1000):
        collector.lost()
    await wait_for(lambda: len(runs) == 1)
    await asyncio.sleep(SETTLE_S)
    assert runs == [1]


async def test_no_run_while_the_collector_is_held_off() -> None:
    runs, collector, _ = counting()
    gc.disable()
    try:
        collector.lost()
        await asyncio.sleep(SETTLE_S)
        assert runs == []
    finally:
        gc.enable()
    await wait_for(lambda: len(runs) == 1)


async def test_a_loss_soon_after_a_run_waits_for_the_gap() -> None:
    runs, _, collector = counting()
    collector.lost()
    await wait_for(lambda: len(runs) == 1)
    collector.lost()
    await asyncio.sleep(SETTLE_S)
    assert runs == [1]
    collector.cancel()
