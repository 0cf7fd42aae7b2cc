"""The simulator's own grid meter sampled often while a scenario runs: the truth a test asserts
on (ampere-seconds over the limit, peaks), with the offers and draws seen at each sample."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import pairwise

from tests.e2e.checks import grid_a, offers_a
from tests.e2e.launch import E2ESite

SAMPLE_EVERY_S = 0.1  # the simulated meter changes once per physics tick (0.1 s in e2e)
# The longest gap between two samples ``over_as`` trusts: an overshoot lasts at least until an
# EV follows a lowering (1 s in these sites), so under this gap every one is sampled at least
# once; a sampler stalled longer (a loaded machine) fails the check instead of hiding one.
MAX_SAMPLE_GAP_S = 0.9


@dataclass(frozen=True)
class Sample:
    at_s: float  # the simulator's clock
    grid_a: tuple[float, ...]  # per grid phase, import positive
    offers_a: dict[str, float]
    drawn_a: dict[str, float]  # highest phase of each connector
    states: dict[str, str]
    session_wh: dict[str, float]


@dataclass
class GridWatch:
    site: E2ESite
    samples: list[Sample] = field(default_factory=list)

    async def sample(self) -> Sample:
        state = await self.site.state()
        connectors = state["connectors"]
        found = Sample(
            float(state["at_s"]),
            tuple(grid_a(state)),
            offers_a(state),
            {cid: max(float(a) for a in c["drawn_a"]) for cid, c in connectors.items()},
            {cid: str(c["state"]) for cid, c in connectors.items()},
            {cid: float(c["session_energy_wh"]) for cid, c in connectors.items()},
        )
        self.samples.append(found)
        return found

    def since(self, at_s: float) -> list[Sample]:
        """The samples from ``at_s`` on, in time order (one taken by hand may come back after
        the sampler's next)."""
        return sorted((s for s in self.samples if s.at_s >= at_s), key=lambda s: s.at_s)

    def over_as(self, limit_a: float, since_s: float = 0.0) -> float:
        """Ampere-seconds the highest grid phase spent above ``limit_a`` (each sample held until
        the next); AssertionError when two samples are more than ``MAX_SAMPLE_GAP_S`` apart,
        where an overshoot could have come and gone unseen."""
        samples = self.since(since_s)
        gaps = [(a.at_s, b.at_s - a.at_s) for a, b in pairwise(samples)]
        widest = max(gaps, key=lambda gap: gap[1], default=(since_s, 0.0))
        assert widest[1] <= MAX_SAMPLE_GAP_S, (
            f"no grid sample for {widest[1]:.2f} s from {widest[0]:.1f} s: an overshoot could hide"
        )
        total = 0.0
        for now, after in pairwise(samples):
            total += max(0.0, max(now.grid_a) - limit_a) * (after.at_s - now.at_s)
        return total

    def peak_a(self, since_s: float = 0.0) -> float:
        return max(max(s.grid_a) for s in self.since(since_s))

    def describe_over(self, limit_a: float) -> str:
        """The first samples over ``limit_a``, with the offers and draws of the connectors
        that had either (for a failure message)."""
        over = [s for s in self.since(0.0) if max(s.grid_a) > limit_a]
        lines = []
        for s in over[:8]:
            busy = [c for c in s.offers_a if s.offers_a[c] or s.drawn_a[c]]
            parts = ", ".join(f"{c} {s.offers_a[c]:g}/{s.drawn_a[c]:g} A" for c in busy)
            lines.append(f"{s.at_s:.1f}: grid {[round(a, 1) for a in s.grid_a]} ({parts})")
        return "; ".join(lines) + " (offered/drawn)"


@contextlib.asynccontextmanager
async def watching(site: E2ESite) -> AsyncIterator[GridWatch]:
    """Sample the grid every ``SAMPLE_EVERY_S`` in the background while the body runs."""
    watch = GridWatch(site)
    await watch.sample()

    async def run() -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY_S)
            await watch.sample()

    task = asyncio.create_task(run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # (a sampler that failed raises its error here)
