"""Reading histories: what each connector's recent readings cost in memory, and the time of
the queries the site loop asks of them.

Memory: ``tracemalloc`` over 1,000 histories as a connector keeps them, each filled to
``HISTORY_READINGS`` readings made as the pollers make them (fresh times, a fresh tuple of
fresh floats for the currents), every object the histories keep alive counted.
Queries (CPU time of this process, ``time.process_time``, per call): a connector polled every
second, read in 20-80 ms, the grid every second; ``draw_around`` of one full history around a
grid reading of the measurement window, the newest reading's start (``_paused_itself``), the
readings within the window folded into a draw (``draw_since``: ``_unraised`` and ``_explained``
in the site loop), and ``bracketed`` over 1,000 full histories and the grid readings of the
window. Over a deque of ``Sample`` objects, as before, the same queries took 2.10-2.12, 0.03,
1.06-1.08 and 2,325-2,431 us, these 1.23-1.27, 0.11-0.12, 0.56-0.62 and 1,303-1,365 us (p50,
two runs of each alternated, 2026-12-05 15:00, load 1.3).
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from typing import Any

from edge_controller.domain.balancing.caution import bracketed, draw_around
from edge_controller.domain.balancing.readings import RecentReadings, Sample
from edge_controller.services.control.connector import HISTORY_READINGS

CONNECTORS = 1000
WINDOW_S = 3.0  # LoopTiming.measurement_window_s


def _history() -> RecentReadings:
    return RecentReadings(HISTORY_READINGS)  # as ConnectorRuntime keeps it


def _deque() -> deque[Sample]:
    return deque(maxlen=HISTORY_READINGS)  # as ConnectorRuntime kept it before


def _fill(history: RecentReadings | deque[Sample], rng: random.Random, offset_s: float) -> None:
    for n in range(HISTORY_READINGS):
        started_s = offset_s + n
        current_a = (rng.uniform(0.0, 32.0), rng.uniform(0.0, 32.0), rng.uniform(0.0, 32.0))
        history.append(Sample(started_s, started_s + rng.uniform(0.02, 0.08), current_a))


def _grids(end_s: float) -> list[Sample]:
    starts = [end_s - 0.5 - n for n in range(HISTORY_READINGS)][::-1]
    return [Sample(s, s + 0.05, (100.0, 100.0, 100.0)) for s in starts]


def _memory_row(
    case: str, make: Callable[[], RecentReadings | deque[Sample]], rng: random.Random
) -> dict[str, Any]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    histories = [make() for _ in range(CONNECTORS)]
    for history in histories:
        _fill(history, rng, rng.uniform(0.0, 1.0))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert all(len(h) == HISTORY_READINGS for h in histories)
    return {
        "case": f"{CONNECTORS} full histories of {HISTORY_READINGS} readings, {case}",
        "bytes_per_connector": round(used / CONNECTORS),
        "total_mb": round(used / 1e6, 2),
    }


def _timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    spent: list[float] = []
    for _ in range(runs):
        began = time.process_time()
        call()
        spent.append(time.process_time() - began)
    cuts = statistics.quantiles(spent, n=100)
    return round(statistics.median(spent) * 1e6, 2), round(cuts[98] * 1e6, 2)


def _query_rows(rng: random.Random) -> list[dict[str, Any]]:
    histories = [_history() for _ in range(CONNECTORS)]
    for history in histories:
        _fill(history, rng, rng.uniform(0.0, 1.0))
    end_s = HISTORY_READINGS + 0.0
    grids = [g for g in _grids(end_s) if g.arrived_s >= end_s - WINDOW_S]
    one, grid = histories[0], grids[0]
    since_s, draw = end_s - WINDOW_S, (40.0, 40.0, 40.0)
    repeat = 1000

    def around() -> None:
        for _ in range(repeat):
            draw_around(one, grid, highest=True)

    def latest() -> None:
        for _ in range(repeat):
            one.started_s(-1)

    def fold() -> None:
        for _ in range(repeat):
            one.draw_since(since_s, draw)

    rows = []
    for case, call in (
        ("draw_around, one full history", around),
        ("history.started_s(-1), the newest start", latest),
        ("draw_since, the window's readings folded into a draw", fold),
    ):
        p50, p99 = _timed(call, 200)
        rows.append(
            {"case": case, "runs": 200 * repeat, "p50_us": round(p50 / repeat, 3)}
            | {"p99_us": round(p99 / repeat, 3)}
        )
    p50, p99 = _timed(lambda: bracketed(grids, histories, highest=False), 200)
    rows.append(
        {"case": f"bracketed, {CONNECTORS} full histories", "runs": 200, "p50_us": p50}
        | {"p99_us": p99}
    )
    return rows


def run() -> list[dict[str, Any]]:
    rng = random.Random(34)
    return [
        _memory_row("as doubles (RecentReadings)", _history, rng),
        _memory_row("as a deque of Sample objects (before)", _deque, rng),
        *_query_rows(rng),
    ]
