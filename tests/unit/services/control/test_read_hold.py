"""The chargers' reads held while an overload is answered must not let a status go stale.

The event loop's timers run on the rig's clock here and the test moves it on by hand, so the
timings are those the loop keeps, whatever the host's speed.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import pytest

from edge_controller.domain.balancing import Feeder, Site
from edge_controller.domain.model import ChargerStatus
from edge_controller.services.control.site_controller import (
    Clocks,
    ConnectorSetup,
    LoopTiming,
    SiteController,
)
from tests.unit.services.control.test_site_controller import Clock, GridMeter, MemoryCharger


@dataclass
class SlowBusCharger(MemoryCharger):
    """Its status answers ``read_s`` after it is asked (a slow bus, within the timeout)."""

    read_s: float = 0.0
    clock: Clock | None = None
    answers_at_s: list[float] | None = None
    asked_at_s: list[float] | None = None

    async def read_status(self) -> ChargerStatus:
        assert self.clock is not None and self.answers_at_s is not None
        assert self.asked_at_s is not None
        self.asked_at_s.append(self.clock.now_s)
        await asyncio.sleep(self.read_s)
        status = await super().read_status()
        self.answers_at_s.append(self.clock.now_s)
        return status


async def _run_until(clock: Clock, until_s: float, check: SiteController) -> None:
    """Move the clock on by 10 ms at a time, letting the loop run its due callbacks, and
    check at every instant that no connector's status is stale."""
    while clock.now_s < until_s:
        clock.now_s = round(clock.now_s + 0.01, 6)
        for _ in range(5):
            await asyncio.sleep(0)
        for conn_id, conn in check._conns.items():
            assert conn.status.fresh() is not None, (conn_id, clock.now_s)


async def test_a_held_read_begins_in_time_for_its_status_to_stay_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the documented timings (a 1 s poll interval, 3 s I/O timeout, 5 s staleness
    limit) and a status read that takes 2.5 s to answer: a step whose writes never answer
    holds the reads up to the write timeout (the hold's own bound being 2.5 s), after which a
    read begun would answer 5.5 s after the status before it. The read begins no later than
    the staleness limit less its timeout after the latest answer, and the status never goes
    stale."""
    clock = Clock()
    monkeypatch.setattr(asyncio.get_running_loop(), "time", clock)
    timing = LoopTiming()
    assert (timing.io_timeout_s, timing.charger_stale_s) == (3.0, 5.0)
    log: list[tuple[str, float]] = []
    answers: list[float] = []
    asked: list[float] = []
    charger = SlowBusCharger("c1:1", log, clock=clock, answers_at_s=answers, asked_at_s=asked)
    meter = GridMeter([charger])
    site = Site(grid_limit_a=32.0, feeders=(Feeder("A", 63.0),))
    setup = ConnectorSetup(charger.name, charger, failsafe_current_a=6.0)
    controller = SiteController("test", site, [setup], meter, timing=timing, clocks=Clocks(clock))
    conn = controller._conns["c1:1"]
    await conn.status.poll_once()
    assert conn.meter is not None
    await conn.meter.poll_once()
    await controller._grid.poll_once()  # type: ignore[union-attr]
    await controller.step()
    assert charger.offered_a == 32.0

    charger.read_s = 2.5
    charger.writes_wait_for = asyncio.Event()  # never set: the lowered setpoint never answers
    polling = asyncio.create_task(conn.status.run())
    await _run_until(clock, clock.now_s + 3.0, controller)  # reads at their pace
    assert answers == [pytest.approx(100.0), pytest.approx(102.5, abs=0.02)]

    # An overload half a second after the latest answer: the reads are held from here on.
    latest_s = answers[-1]
    await _run_until(clock, latest_s + 0.5, controller)
    meter.building_a = 10.0  # 42 A on a 32 A connection
    await controller._grid.poll_once()  # type: ignore[union-attr]
    step = asyncio.create_task(controller.step())
    await _run_until(clock, latest_s + 8.0, controller)
    assert step.done() and charger.offered_a == 32.0  # its lowered setpoint timed out
    assert charger.waiting.is_set()
    after = [s for s in asked if s > latest_s]
    assert after and after[0] <= latest_s + timing.charger_stale_s - timing.io_timeout_s + 0.02
    assert all(b - a <= timing.charger_stale_s for a, b in itertools.pairwise(answers))
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling
