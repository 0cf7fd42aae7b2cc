"""A building-load step that overloads the connection, and how long the daemon takes to fix it.

Shared by the end-to-end test (bounded) and bench/bench_e2e.py (measured).
"""

from __future__ import annotations

import asyncio

from tests.e2e.checks import grid_a
from tests.e2e.launch import E2ESite, eventually

SEEN_WITHIN_S = 2.0  # the simulated meter shows a step within a physics tick or two
ATTEMPTS = 3


async def ramped(site: E2ESite, limit_a: float, within_a: float) -> None:
    """Until the grid has stayed within ``within_a`` of the limit for a second (EVs ramped up)."""
    loop = asyncio.get_running_loop()
    since: list[float] = []

    async def check() -> bool:
        if max(grid_a(await site.state())) < limit_a - within_a:
            since.clear()
            return False
        since.append(loop.time())
        return since[-1] - since[0] >= 1.0

    await eventually(check, "EVs ramped up to the grid limit", 60)


async def overload_step(
    site: E2ESite, limit_a: float, base_a: tuple[float, float], bound_s: float
) -> float:
    """Step the building load from ``base_a[0]`` to ``base_a[1]`` per phase; seconds until the
    grid is back under ``limit_a``. A step that did not overload (the EVs had just backed off)
    is undone and tried again."""
    loop = asyncio.get_running_loop()
    for _ in range(ATTEMPTS):
        await ramped(site, limit_a, within_a=(base_a[1] - base_a[0]) / 2)
        stepped_at = loop.time()
        await site.control.set_base_load(base_a[1], base_a[1], base_a[1])
        if await _overloaded(site, limit_a):

            async def under() -> bool:
                return max(grid_a(await site.state())) <= limit_a

            await eventually(under, "grid back under its limit", bound_s)
            return loop.time() - stepped_at
        await site.control.set_base_load(base_a[0], base_a[0], base_a[0])
    raise AssertionError(f"no overload after {ATTEMPTS} steps")


async def _overloaded(site: E2ESite, limit_a: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SEEN_WITHIN_S
    while loop.time() < deadline:
        if max(grid_a(await site.state())) > limit_a:
            return True
        await asyncio.sleep(0.05)
    return False
