"""A transaction's limits set by the CSMS (OCPP 2.1 TransactionLimit): the session ends when
its cost, energy or time reaches one. Pure.

``TransactionLimit`` itself is a command value (``domain.commands``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from edge_controller.domain.commands import StopReason, TransactionLimit


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a session got: energy as its register difference, time since its start, its
    running cost (None: not priced) and that cost projected to the next reading
    (``domain.pricing.outlook``; None: not projected)."""

    energy_wh: int
    elapsed_s: float
    cost: Decimal | None = None
    cost_ahead: Fraction | None = None


def limit_reached(limit: TransactionLimit, progress: Progress) -> StopReason | None:
    """The reason to stop the session now, or None. Energy is checked first: it is what the
    register difference bills, so the reason names the limit the bill reflects."""
    if limit.max_energy_wh is not None and progress.energy_wh >= limit.max_energy_wh:
        return StopReason.ENERGY_LIMIT
    if limit.max_cost is not None and _cost_passes(limit.max_cost, progress):
        return StopReason.COST_LIMIT
    if limit.max_time_s is not None and progress.elapsed_s >= limit.max_time_s:
        return StopReason.TIME_LIMIT
    return None


def _cost_passes(limit: Decimal, progress: Progress) -> bool:
    """Reached now, or the next reading would carry the cost past it (reaching it exactly at
    the next reading is allowed)."""
    if progress.cost is None:
        return False
    ahead = progress.cost_ahead
    return progress.cost >= limit or (ahead is not None and ahead > Fraction(limit))
