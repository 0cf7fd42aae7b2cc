"""Holding back increases that only a misaligned pair of readings seems to allow.

The building load is the grid reading minus our own measured draw, and the two are read at
different moments. When an EV's draw changes between the grid sample and its charger's reading,
the building looks lighter or heavier than it is: an EV that just followed a lower offer, read
before it did, hides building load; one that ramped up makes the building look heavier. So the
site loop also allocates with a pairing that cannot hide building load: the newest grid reading
that every connector's readings bracket (one read entirely before it, one entirely after), our
draw taken per phase as the lower of the two; and no offer rises above that cautious answer.
Where no grid reading is bracketed yet, the cautious answer counts none of our draw (all of the
grid is building) and increases wait. Decreases never depend on it, so a conservative estimate
cannot make sessions pause and oscillate: it only delays an increase until readings confirm it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from edge_controller.domain.balancing.types import Allocation, ConnectorAllocation
from edge_controller.domain.model import Phases3

HELD = "waiting for a grid reading after the ramp"


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: when its read started and when it arrived (the values were taken between)
    and the per-phase currents it read."""

    started_s: float
    arrived_s: float
    current_a: Phases3


def draw_around(samples: Sequence[Sample], grid: Sample) -> Phases3 | None:
    """Per phase, the lowest of our readings from the last one done before ``grid`` started to
    the first one begun after it arrived (a draw that dipped and came back in between is seen
    by the readings in between); None unless both ends exist (oldest first in ``samples``).
    A reading taken in the same instant as ``grid`` is both ends."""
    first = last = None
    for number, sample in enumerate(samples):
        if sample.arrived_s <= grid.started_s:
            first = number
        if sample.started_s >= grid.arrived_s:
            last = number
            break
    if first is None or last is None:
        return None
    span = [samples[number].current_a for number in range(first, last + 1)]
    return (min(c[0] for c in span), min(c[1] for c in span), min(c[2] for c in span))


def bracketed(
    grids: Sequence[Sample], draws: Sequence[Sequence[Sample]]
) -> tuple[Sample, list[Phases3]] | None:
    """The newest grid reading that each connector's readings bracket, with every connector's
    draw around it; None if there is none (``grids`` oldest first)."""
    for grid in reversed(grids):
        found = []
        for samples in draws:
            draw = draw_around(samples, grid)
            if draw is None:
                break  # this grid reading is not bracketed: the rest need not be looked at
            found.append(draw)
        else:
            return grid, found
    return None


def rises(normal: Allocation, previous: Allocation | None) -> bool:
    """Whether any offer of ``normal`` is above the previous one."""
    if previous is None:
        return any(entry.current_a > 0 for entry in normal.connectors.values())
    before = previous.connectors
    for cid, entry in normal.connectors.items():
        prior = before.get(cid)
        if entry.current_a > (prior.current_a if prior is not None else 0.0):
            return True
    return False


def hold_unconfirmed_increases(
    normal: Allocation, cautious: Allocation, previous: Allocation | None
) -> Allocation:
    """``normal`` with every increase capped at the offer ``cautious`` allows."""
    held: dict[str, ConnectorAllocation] = {}
    for cid, entry in normal.connectors.items():
        prior = previous.connectors.get(cid) if previous is not None else None
        before_a = prior.current_a if prior is not None else 0.0
        safer = cautious.connectors.get(cid)
        if entry.current_a > before_a and safer is not None and safer.current_a < entry.current_a:
            kept_a = max(safer.current_a, min(before_a, entry.current_a))
            if kept_a < entry.current_a:
                held[cid] = _held(entry, prior, kept_a, _held_reason(safer.reason, kept_a))
    if not held:
        return normal
    return replace(normal, connectors={**normal.connectors, **held})


def _held_reason(safer: str, kept_a: float) -> str:
    """What binds the cautious offer first, the wait second: "grid L1 50 A; waiting for a grid
    reading after the ramp" (paused: said once, in front)."""
    binding = safer.removeprefix("paused: ")
    return f"{binding}; {HELD}" if kept_a > 0 else f"paused: {binding}; {HELD}"


def _held(
    entry: ConnectorAllocation, prior: ConnectorAllocation | None, kept_a: float, reason: str
) -> ConnectorAllocation:
    """``entry`` at ``kept_a``: a start held back is no switch (no minimum pause follows) and
    an increase held back entirely is none (the ramp limit does not start again)."""
    prior = prior or ConnectorAllocation(entry.connector_id, 0.0, "")
    switched = (kept_a > 0) != (prior.current_a > 0)
    return entry._replace(
        current_a=kept_a,
        reason=reason,
        changed_at_s=entry.changed_at_s if switched else prior.changed_at_s,
        increased_at_s=entry.increased_at_s if kept_a > prior.current_a else prior.increased_at_s,
        assumed_current_a=kept_a,
    )
