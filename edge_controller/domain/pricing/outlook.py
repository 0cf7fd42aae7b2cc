"""Where a running cost is heading: the cost limit checks stop a session before the next
reading would carry it past its limit, not one reading after. Pure.

Rule: the running cost is carried forward from the latest priced reading at the rate it rose
over the interval before it, up to the next expected reading (the latest recorded reading plus
the interval between the two latest recorded ones). A session stops at the first check where
its cost has reached the limit, or where that projection would pass it (reaching it exactly is
allowed: the next reading may end there). Readings are what the cost is known at; between
them the limit cannot be seen, so this is as close as the bill can be held to it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from edge_controller.domain.pricing.money import Money


@dataclass(frozen=True, slots=True)
class CostPoint:
    """The running cost (tax included) as priced up to a reading at ``at_s``."""

    at_s: float
    cost: Money


@dataclass(frozen=True, slots=True)
class CostOutlook:
    now: Money  # as priced up to the latest priced reading
    ahead: Fraction  # projected to the next expected reading, exact (not a whole minor unit)


def outlook(
    before: CostPoint | None, latest: CostPoint, next_reading_s: float | None
) -> CostOutlook:
    """The cost now and where it heads at ``next_reading_s`` (None or no earlier point: it
    stays where it is; a cost that fell, after a cost limit, is not projected down)."""
    now = Fraction(latest.cost.amount)
    if before is None or next_reading_s is None or latest.at_s <= before.at_s:
        return CostOutlook(latest.cost, now)
    rise = now - Fraction(before.cost.amount)
    if rise <= 0 or next_reading_s <= latest.at_s:
        return CostOutlook(latest.cost, now)
    span = Fraction(next_reading_s) - Fraction(latest.at_s)
    return CostOutlook(
        latest.cost, now + rise * span / (Fraction(latest.at_s) - Fraction(before.at_s))
    )


def next_reading_s(readings_at_s: list[float]) -> float | None:
    """When the next reading is expected: the latest plus the interval before it."""
    if len(readings_at_s) < 2:
        return None
    return readings_at_s[-1] + (readings_at_s[-1] - readings_at_s[-2])


def passes(limit: Decimal, found: CostOutlook) -> bool:
    """Whether a session limited to ``limit`` (tax included) must stop now."""
    return found.now.amount >= limit or found.ahead > Fraction(limit)
