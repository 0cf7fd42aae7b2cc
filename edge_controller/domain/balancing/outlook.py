"""When admission and water-filling cannot bind, they need not run (the usual steady state).

Greedy admission takes each contender's minimum in turn, and water-filling raises a class from
its floors; both act only where a limit is reached. ``Outlook`` sums, per priority class and per
node a member draws at, the higher of its floor and its ceiling (its "high"). ``nothing_binds``
then asks, one class at a time, whether every limit holds with the classes before it at their
offers and it and the later ones at their highs, and whether grid power is left above the
floors. If so, admission takes every minimum (asked for the first class) and the class keeps
its ceilings: what the full steps would decide, for a fraction of the cost. These sums run in
another order than those steps, so their rounding is allowed for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_controller.domain.balancing.offers import Offer
from edge_controller.domain.balancing.tree import INF, Budget, Tree
from edge_controller.domain.balancing.types import EPS_A

Sheet = list[float]
"""Amps per node and phase, flat: node ``n`` phase ``p`` at ``3 * n + p`` (one list per sheet,
not one per node: a decision makes several sheets, and each list is one more object to collect)."""


@dataclass(slots=True)
class Outlook:
    """Per class (in admission order): the highs of it and every later class, per node and
    phase and as phase-amps, and its floors as phase-amps; the room of every limit in the fixed
    budget with the rounding allowed for; and the offers of the classes decided so far."""

    highs: list[Sheet]
    high_amps: list[float]
    floor_amps: list[float]
    ulps: float  # relative rounding of a sum over these members, in any order
    magnitude_a: float  # the largest such a sum can be (of floors, highs and offers)
    rooms: Sheet  # the most the offers and highs may add up to
    offered: Sheet  # the offers of the classes decided so far
    offered_amps: float = 0.0

    @classmethod
    def of(cls, tree: Tree, classes: list[list[Offer]], fixed: Budget) -> Outlook | None:
        """The outlook, or None if some floor is negative or NaN (its bounds assume neither)."""
        highs: list[Sheet] = []
        high_amps: list[float] = []
        floor_amps: list[float] = []
        for members in reversed(classes):  # later classes first: each sheet adds to their sum
            sheet = highs[-1][:] if highs else [0.0] * (3 * len(tree.labels))
            high_a, floor_a = _add_highs(members, sheet)
            highs.append(sheet)
            high_amps.append(high_a + (high_amps[-1] if high_amps else 0.0))
            floor_amps.append(floor_a)
        lowest_a = min([min([o.floor_a for o in members]) for members in classes], default=0.0)
        if not lowest_a >= 0 or math.isnan(sum(floor_amps)):
            return None
        count = sum(len(members) for members in classes)
        magnitude_a = 2 * high_amps[-1] + sum(floor_amps) if classes else 0.0
        ulps = 1e-15 * (count + 1)  # some 9 units in the last place per term: generous
        rooms = [
            limit + EPS_A - ulps * (magnitude_a + abs(limit) + 1.0)
            for row in fixed.left
            for limit in row
        ]
        offered = [0.0] * len(rooms)
        return cls(
            highs[::-1], high_amps[::-1], floor_amps[::-1], ulps, magnitude_a, rooms, offered
        )

    def take(self, members: list[Offer]) -> None:
        """Count the offers of a decided class."""
        offered, amps = self.offered, 0.0
        for offer in members:
            current_a, phases, at = offer.current_a, offer.phases, 3 * offer.path[0]
            for phase in phases:
                offered[at + phase] += current_a
            amps += current_a * len(phases)
        self.offered_amps += amps

    def nothing_binds(self, tree: Tree, fixed: Budget, number: int) -> bool:
        """True if, with the classes before ``number`` at their offers and it and the later
        ones at their highs, every limit holds and grid power is left at their floors: then the
        floors all fit (class 0) and the class's water-filling binds nowhere. ``fixed`` is the
        budget the outlook was made with."""
        own = [o + h for o, h in zip(self.offered, self.highs[number], strict=True)]
        rooms, parents = self.rooms, tree.parents
        for node in tree.bottom_up:  # children first: each adds its sums to its parent's
            at = 3 * node
            a, b, c = own[at], own[at + 1], own[at + 2]
            if not (a <= rooms[at] and b <= rooms[at + 1] and c <= rooms[at + 2]):
                return False
            up = 3 * parents[node]
            if up >= 0:
                own[up] += a
                own[up + 1] += b
                own[up + 2] += c
        cap_a = fixed.power_left_a
        if not cap_a < INF:
            return True
        slack_a = self.ulps * (self.magnitude_a + abs(cap_a) + 1.0)
        later_floors_a = sum(self.floor_amps[number:])
        offered_a = self.offered_amps
        fits = offered_a + self.high_amps[number] <= cap_a + EPS_A - slack_a
        return fits and offered_a + later_floors_a < cap_a - slack_a


def _add_highs(members: list[Offer], sheet: Sheet) -> tuple[float, float]:
    """Adds each member's high at its own node; returns the highs' and the floors' phase-amps."""
    high_amps = floor_amps = 0.0
    for offer in members:
        floor_a, ceiling_a, phases = offer.floor_a, offer.ceiling_a, offer.phases
        high_a = ceiling_a if not ceiling_a <= floor_a else floor_a  # (a NaN stays)
        at, width = 3 * offer.path[0], len(phases)
        for phase in phases:
            sheet[at + phase] += high_a
        high_amps += high_a * width
        floor_amps += floor_a * width
    return high_amps, floor_amps
