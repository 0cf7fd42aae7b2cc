"""When admission and water-filling cannot bind, they need not run (the usual steady state).

Greedy admission takes each connector's minimum in turn, and water-filling raises a class from
its floors; both only act where a limit is reached. ``Outlook`` sums, per priority class and per
node a member draws at, the higher of its floor and its ceiling ("high"). ``nothing_binds`` then
asks, one class at a time, whether every limit holds with the classes before it at their offers
and it and the later ones at their highs. If so, admission takes every minimum (asked once, for
the first class) and the class keeps its ceilings: what the full steps would decide, for a
fraction of the cost. These sums run in another order than those steps, so their rounding is
allowed for.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_controller.domain.balancing.fill import Columns
from edge_controller.domain.balancing.tree import INF, Budget, Tally, Tree
from edge_controller.domain.balancing.types import EPS_A

Sheet = list[list[float]]  # per node, per phase


@dataclass(slots=True)
class Outlook:
    """Per class (in admission order): the highs of it and every later class, per node and
    phase and as phase-amps, and its floors as phase-amps; and the room of every limit in the
    fixed budget, rounding allowed for."""

    highs: list[Sheet]
    high_amps: list[float]
    floor_amps: list[float]
    ulps: float  # relative rounding of a sum over these members, in any order
    magnitude_a: float  # the largest such sum can be (of floors, highs and offers)
    rooms: Sheet  # per node and phase: the most the offers and highs may add up to

    @classmethod
    def of(cls, tree: Tree, cols: Columns, classes: list[list[int]], fixed: Budget) -> Outlook:
        highs: list[Sheet] = []
        high_amps: list[float] = []
        floor_amps: list[float] = []
        for members in reversed(classes):  # later classes first: each sheet adds to their sum
            sheet = [row[:] for row in highs[-1]] if highs else Tally.start(tree).own
            high_a, floor_a = _add_highs(cols, members, sheet)
            highs.append(sheet)
            high_amps.append(high_a + (high_amps[-1] if high_amps else 0.0))
            floor_amps.append(floor_a)
        count = sum(len(members) for members in classes)
        magnitude_a = 2 * high_amps[-1] + sum(floor_amps) if classes else 0.0
        ulps = 1e-15 * (count + 1)  # some 9 units in the last place per term: generous
        rooms = [  # as ``_rounding_a``, inlined: this runs for every node and phase
            [limit + EPS_A - ulps * (magnitude_a + abs(limit) + 1.0) for limit in row]
            for row in fixed.left
        ]
        return cls(highs[::-1], high_amps[::-1], floor_amps[::-1], ulps, magnitude_a, rooms)

    def nothing_binds(self, tree: Tree, fixed: Budget, number: int, offered: Tally) -> bool:
        """True if, with the classes before ``number`` at their offers (``offered``) and it and
        the later ones at their highs, every limit holds and grid power is left at its floors:
        then the floors all fit (class 0) and the class's water-filling binds nowhere.
        ``fixed`` is the budget the outlook was made with (its rooms are taken from it)."""
        own = [
            [o[0] + h[0], o[1] + h[1], o[2] + h[2]]
            for o, h in zip(offered.own, self.highs[number], strict=True)
        ]
        rooms, parents = self.rooms, tree.parents
        for node in tree.bottom_up:  # children first: each adds its sums to its parent's
            (a, b, c), room = own[node], rooms[node]
            if not (a <= room[0] and b <= room[1] and c <= room[2]):
                return False
            parent = parents[node]
            if parent >= 0:
                up = own[parent]
                up[0] += a
                up[1] += b
                up[2] += c
        cap_a = fixed.power_left_a
        if not cap_a < INF:
            return True
        slack_a = self._rounding_a(cap_a)
        later_floors_a = sum(self.floor_amps[number:])
        fits = offered.phase_amps + self.high_amps[number] <= cap_a + EPS_A - slack_a
        return fits and offered.phase_amps + later_floors_a < cap_a - slack_a

    def _rounding_a(self, limit_a: float) -> float:
        return self.ulps * (self.magnitude_a + abs(limit_a) + 1.0)


def _add_highs(cols: Columns, members: list[int], sheet: Sheet) -> tuple[float, float]:
    """Adds each member's high at its own node; returns the highs' and the floors' phase-amps."""
    floor, ceiling, paths, phases = cols.floor_a, cols.ceiling_a, cols.paths, cols.phases
    high_amps = floor_amps = 0.0
    for index in members:
        floor_a, ceiling_a, wired = floor[index], ceiling[index], phases[index]
        high_a = ceiling_a if not ceiling_a <= floor_a else floor_a  # (a NaN stays)
        row, width = sheet[paths[index][0]], len(wired)
        for phase in wired:
            row[phase] += high_a
        high_amps += high_a * width
        floor_amps += floor_a * width
    return high_amps, floor_amps
