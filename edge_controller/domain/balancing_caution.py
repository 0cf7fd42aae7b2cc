"""Holding back increases that only a misaligned pair of readings seems to allow.

The building load is the grid reading minus our own measured draw, and the two are read at
different moments. When an EV ramps up after the grid sample but before its charger's meter is
read, the newer, higher draw hides building load and the headroom looks larger than it is. The
site loop therefore also allocates with our draw as it was *around* the grid sample (the lower
of the readings just before and after it) and lets no offer rise above that cautious answer.
Decreases never depend on it, so a conservative estimate cannot make sessions pause and
oscillate: it only delays an increase until a grid reading confirms it.
"""

from __future__ import annotations

from dataclasses import replace

from edge_controller.domain.balancing_types import Allocation, ConnectorAllocation

HELD = "waiting for a grid reading after the ramp"


def hold_unconfirmed_increases(
    normal: Allocation, cautious: Allocation, previous: Allocation | None
) -> Allocation:
    """``normal`` with every increase capped at the offer ``cautious`` allows."""
    held: dict[str, ConnectorAllocation] = {}
    for cid, entry in normal.connectors.items():
        before_a = previous.current_a(cid) if previous is not None else 0.0
        safer = cautious.connectors.get(cid)
        if entry.current_a > before_a and safer is not None and safer.current_a < entry.current_a:
            kept_a = max(safer.current_a, min(before_a, entry.current_a))
            if kept_a < entry.current_a:
                held[cid] = entry._replace(current_a=kept_a, reason=f"{HELD} ({safer.reason})")
    if not held:
        return normal
    return replace(normal, connectors={**normal.connectors, **held})
