"""Balancing benchmark: allocation time by site size, and the loop's reaction to an overload.

Allocation: sites of 10, 100 and 1,000 connectors (feeders of ten, mixed wiring and EV phases,
two priority classes, some CSMS limits), steady state with a previous allocation; and 1,000
connectors under a building load that steps every 7 s (offers lowered and raised, EVs paused
and resumed, lowered ones settling). In that row the readings keep the time of the first, so
from the 11th decision on the meter counts as stale and the fallback caps every connector; the
row "fresh readings" stamps each reading with its decision's time, so the load really steps
and the limits bind. Allocation times are CPU time of this process (``time.process_time``:
the machine is shared, wall time would count the others' work), with what start-up built
frozen out of the collector's generations and the young generation's threshold above a
decision's burst, as the daemon does (``app.daemon.keep_start_up_out_of_collections``); each
decision reuses the last one's offer records, as the control loop does (``OfferRecords``).
Reaction: the running loop with in-memory devices; from the moment the meter read returns an
overloading reading to the last ``set_current`` call of the resulting decrease (wall time).
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
from typing import Any

from edge_controller.app.daemon import keep_start_up_out_of_collections
from edge_controller.domain.balancing import (
    Allocation,
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    OfferRecords,
    Policy,
    Site,
    allocate,
)
from edge_controller.domain.model import ChargerStatus, CpState, Limit, MeterReading
from edge_controller.services.control.site_controller import (
    ConnectorSetup,
    LoopTiming,
    SiteController,
)

SIZES = {10: 400, 100: 200, 1000: 400}
REACTIONS = 60
WIRINGS = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0,), (1,), (2,)]


def _percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_s, n=100)
    return round(statistics.median(samples_s) * 1000, 3), round(cuts[98] * 1000, 3)


def _site(count: int, rng: random.Random) -> tuple[Site, list[ConnectorDemand]]:
    feeders = tuple(Feeder(f"F{i}", 80.0) for i in range(max(1, count // 10)))
    site = Site(grid_limit_a=count * 9.0, feeders=feeders, power_limit_w=count * 5500.0)
    demands = []
    for i in range(count):
        limits = (Limit(16.0, f"csms profile {i}"),) if i % 7 == 0 else ()
        demands.append(
            ConnectorDemand(
                connector_id=f"c{i}:1",
                state=rng.choice([DemandState.CHARGING] * 4 + [DemandState.IDLE]),
                wiring=rng.choice(WIRINGS),
                feeder=feeders[i % len(feeders)].id,
                ev_phases=rng.choice([None, 1, 3]),
                max_current_a=rng.choice([16.0, 32.0]),
                limits=limits,
                measured_current_a=(6.0, 6.0, 6.0),
                priority=1 if i % 5 == 0 else 0,
                session_start_s=float(i),
            )
        )
    return site, demands


def _allocation_row(
    count: int, runs: int, stepping: bool = False, fresh: bool = False
) -> dict[str, Any]:
    """Steady state; or ``stepping``: the building load moves every 7 s between two levels,
    so offers go down and up, EVs pause and resume and lowered ones settle; ``fresh``: each
    reading stamped with its decision's time (else the first's: stale after 10 s)."""
    site, demands = _site(count, random.Random(count))
    grids = [GridReading((count * 4.0,) * 3, 0.0), GridReading((count * 5.5,) * 3, 0.0)]
    records = OfferRecords()
    previous: Allocation | None = allocate(
        site, demands, grid=grids[0], previous=None, now_s=0.0, records=records
    )
    samples = []
    thresholds = gc.get_threshold()
    keep_start_up_out_of_collections()  # as the daemon after start-up
    try:
        for run in range(runs):
            now_s = 1.0 + run * (1.0 if stepping else 1e-3)
            grid = grids[(run // 7) % 2] if stepping else grids[0]
            if fresh:
                grid = GridReading(grid.current_a, now_s)
            started = time.process_time()
            previous = allocate(
                site, demands, grid=grid, previous=previous, now_s=now_s, records=records
            )
            samples.append(time.process_time() - started)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    p50, p99 = _percentiles_ms(samples)
    case = f"allocate {count} connectors" + (", building load stepping" if stepping else "")
    case += ", fresh readings" if fresh else ""
    return {"case": case, "runs": runs, "p50_ms": p50, "p99_ms": p99, "clock": "cpu"}


class _Charger:
    def __init__(self, name: str, writes: dict[str, float]) -> None:
        self.name, self.offered_a, self._writes = name, 0.0, writes

    async def read_status(self) -> ChargerStatus:
        return ChargerStatus(CpState.C, True, self.offered_a)

    async def set_current(self, current_a: float) -> None:
        self.offered_a = current_a
        self._writes[self.name] = time.perf_counter()

    async def set_enabled(self, enabled: bool) -> None:
        return None


class _Meter:
    def __init__(self) -> None:
        self.building_a = 0.0
        self.overload_seen_at: float | None = None

    async def read(self) -> MeterReading:
        if self.building_a > 0 and self.overload_seen_at is None:
            self.overload_seen_at = time.perf_counter()
        amps = (self.building_a,) * 3
        return MeterReading((230.0,) * 3, amps, (0.0,) * 3, 0.0, 0.0, 0.0, 0.0)


async def _reactions(count: int) -> list[float]:
    writes: dict[str, float] = {}
    chargers = [_Charger(f"c{i}:1", writes) for i in range(count)]
    meter = _Meter()
    fast = Policy(increase_interval_s=0, decrease_settle_s=0, min_pause_s=0, min_charge_s=0)
    controller = SiteController(
        "bench",
        Site(grid_limit_a=count * 20.0),
        [ConnectorSetup(c.name, c, poll_interval_s=0.5) for c in chargers],
        meter,
        policy=fast,
        timing=LoopTiming(tick_s=3600.0, grid_poll_interval_s=0.01),
    )
    samples: list[float] = []
    async with asyncio.TaskGroup() as group:
        task = group.create_task(controller.run())
        await asyncio.sleep(0.3)
        for _ in range(REACTIONS):
            await _wait(controller, lambda: all(c.offered_a == 20.0 for c in chargers))
            writes.clear()
            meter.overload_seen_at, meter.building_a = None, count * 6.0
            await _wait(controller, lambda: all(c.offered_a == 14.0 for c in chargers))
            assert meter.overload_seen_at is not None
            samples.append(max(writes.values()) - meter.overload_seen_at)
            meter.building_a = 0.0
        await controller.shutdown()
        task.cancel()
    return samples


async def _wait(controller: SiteController, condition: Any) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await controller.next_snapshot()


def run() -> list[dict[str, Any]]:
    rows = [_allocation_row(count, runs) for count, runs in SIZES.items()]
    rows.append(_allocation_row(1000, 400, stepping=True))
    rows.append(_allocation_row(1000, 400, stepping=True, fresh=True))
    for count in (10, 100):
        samples = asyncio.run(_reactions(count))
        p50, p99 = _percentiles_ms(samples)
        rows.append(
            {"case": f"loop reaction {count} connectors", "runs": len(samples)}
            | {"p50_ms": p50, "p99_ms": p99, "clock": "wall"}
        )
    return rows
