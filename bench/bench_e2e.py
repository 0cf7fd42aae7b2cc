"""Whole daemon against the simulated site: how fast an overloading base-load step is corrected.

The real ``edge-controller run`` and ``edge-controller simulate`` processes, six connectors,
EVs that follow a new offer after 1 s. Each step raises the building load by 10 A per phase
while the EVs use the whole connection; the time runs from the step until the simulated grid
meter reads every phase under the limit again. ``ratio_to_bound`` compares it with the EVs'
response delay + 2 s (the target), measured in the same run. The reaction from the overloading
reading to the last setpoint written is measured on the demo site (bench_reaction).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Any

from edge_controller.drivers.modbus.stats import percentile
from tests.e2e.launch import E2ESite
from tests.e2e.overload import overload_step
from tests.e2e.site import CONNECTORS, RESPONSE_DELAY_S, profile_for, site_config

STEPS = 8
LOW_BASE_A, HIGH_BASE_A = 5.0, 15.0


async def _one_step(site: E2ESite, limit_a: float) -> float:
    took_s = await overload_step(site, limit_a, (LOW_BASE_A, HIGH_BASE_A), 60.0)
    await site.control.set_base_load(LOW_BASE_A, LOW_BASE_A, LOW_BASE_A)
    return took_s


async def _measure() -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        work = Path(tmp)
        config = site_config(work, work / "state")
        site = E2ESite(work, work / "state", config)
        try:
            await site.start_sim()
            await site.start_daemon()
            await site.plug_all(CONNECTORS, profile_for)
            limit_a = float(config["site"]["grid_limit_a"])
            steps = [await _one_step(site, limit_a) for _ in range(STEPS)]
        finally:
            await site.close()
        return steps


def run() -> list[dict[str, Any]]:
    samples = asyncio.run(_measure())
    bound_s = RESPONSE_DELAY_S + 2.0
    p50, p99 = statistics.median(samples), percentile(sorted(samples), 0.99)
    return [
        {
            "metric": "overload_corrected_s",
            "steps": len(samples),
            "p50_s": round(p50, 2),
            "p99_s": round(p99, 2),
            "max_s": round(max(samples), 2),
            "target_s": bound_s,
            "ratio_to_bound_p50": round(p50 / bound_s, 2),
            "ratio_to_bound_p99": round(p99 / bound_s, 2),
        },
    ]
