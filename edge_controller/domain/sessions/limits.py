"""A transaction's limits set by the CSMS (OCPP 2.1 TransactionLimit): the session ends when
its cost, energy or time reaches one. Pure.

``TransactionLimit`` itself is a command value (``domain.commands``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from edge_controller.domain.commands import StopReason, TransactionLimit


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a session got: energy as its register difference, time since its start, and
    its running cost (None: not priced)."""

    energy_wh: int
    elapsed_s: float
    cost: Decimal | None = None


def limit_reached(limit: TransactionLimit, progress: Progress) -> StopReason | None:
    """The reason to stop the session now, or None. Energy is checked first: it is what the
    register difference bills, so the reason names the limit the bill reflects."""
    if limit.max_energy_wh is not None and progress.energy_wh >= limit.max_energy_wh:
        return StopReason.ENERGY_LIMIT
    if limit.max_cost is not None and progress.cost is not None and progress.cost >= limit.max_cost:
        return StopReason.COST_LIMIT
    if limit.max_time_s is not None and progress.elapsed_s >= limit.max_time_s:
        return StopReason.TIME_LIMIT
    return None
