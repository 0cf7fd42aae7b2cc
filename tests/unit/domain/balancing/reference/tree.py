"""The limit tree and water-filling over it.

Node 0 is the grid connection; feeders hang below it. Every node has a per-phase limit; the grid
may also carry a total power limit, modelled as one more constraint over the sum of phase
currents ("phase-amps"). ``Budget`` tracks what is left of every constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_controller.domain.balancing.types import EPS_A, PHASE_COUNT, Site

INF = math.inf
POWER = PHASE_COUNT  # constraint key of the grid power limit, next to phases 0..2


@dataclass(slots=True)
class Tree:
    labels: list[str]
    limits: list[float]
    parents: list[int]
    index: dict[str | None, int]
    paths: list[tuple[int, ...]]  # node, its parent, ..., 0
    bottom_up: list[int]  # every node after all of its descendants

    @property
    def nodes(self) -> range:
        return range(len(self.labels))

    @classmethod
    def build(cls, site: Site) -> Tree:
        labels, limits, parents = [site.grid_label], [site.grid_limit_a], [-1]
        index: dict[str | None, int] = {None: 0}
        for feeder in site.feeders:
            if feeder.id in index:
                raise ValueError(f"feeder {feeder.id!r} defined twice")
            index[feeder.id] = len(labels)
            labels.append(f"feeder {feeder.id}")
            limits.append(feeder.limit_a)
        for feeder in site.feeders:
            if feeder.parent not in index:
                raise ValueError(f"feeder {feeder.id!r}: unknown parent {feeder.parent!r}")
            parents.append(index[feeder.parent])
        paths = [_path(parents, node) for node in range(len(labels))]
        order = sorted(range(len(labels)), key=lambda node: -len(paths[node]))
        return cls(labels, limits, parents, index, paths, order)

    def path(self, feeder: str | None) -> tuple[int, ...]:
        if feeder not in self.index:
            raise ValueError(f"unknown feeder {feeder!r}")
        return self.paths[self.index[feeder]]

    def label(self, node: int, key: int) -> str:
        if key == POWER:
            return f"{self.labels[node]} power"
        return f"{self.labels[node]} L{key + 1} {self.limits[node]:g} A"


def _path(parents: list[int], node: int) -> tuple[int, ...]:
    path = [node]
    while parents[path[-1]] >= 0:
        path.append(parents[path[-1]])
        if len(path) > len(parents):
            raise ValueError("feeders form a cycle")
    return tuple(path)


@dataclass(slots=True)
class Budget:
    """Remaining capacity of every (node, phase) and of the grid power limit, in A."""

    tree: Tree
    left: list[list[float]]
    power_left_a: float
    power_label: str

    @classmethod
    def start(cls, tree: Tree, power_cap_a: float, power_label: str) -> Budget:
        return cls(tree, [[limit] * PHASE_COUNT for limit in tree.limits], power_cap_a, power_label)

    def copy(self) -> Budget:
        return Budget(self.tree, [row[:] for row in self.left], self.power_left_a, self.power_label)

    def take(self, path: tuple[int, ...], phases: tuple[int, ...], current_a: float) -> None:
        for node in path:
            row = self.left[node]
            for phase in phases:
                row[phase] -= current_a
        self.power_left_a -= current_a * len(phases)

    def take_all(self, loads: list[tuple[tuple[int, ...], tuple[int, ...], float]]) -> None:
        """``take`` for many (path, phases, current) at once: summed per feeder, then passed up
        the tree once (cheaper than walking every connector's path)."""
        tree = self.tree
        own = [[0.0] * PHASE_COUNT for _ in tree.nodes]
        phase_amps = 0.0
        for path, phases, current_a in loads:
            row = own[path[0]]
            for phase in phases:
                row[phase] += current_a
            phase_amps += current_a * len(phases)
        for node in tree.bottom_up:  # children first: each adds its total to its parent
            parent, row = tree.parents[node], own[node]
            left = self.left[node]
            for phase in range(PHASE_COUNT):
                left[phase] -= row[phase]
                if parent >= 0:
                    own[parent][phase] += row[phase]
        self.power_left_a -= phase_amps

    def take_if_fits(
        self, path: tuple[int, ...], phases: tuple[int, ...], current_a: float
    ) -> str | None:
        """Take ``current_a`` if it fits every limit on the way; else the first limit it would
        exceed (and nothing is taken)."""
        need_a = current_a - EPS_A
        for node in path:
            row = self.left[node]
            for phase in phases:
                if row[phase] < need_a:
                    return self.tree.label(node, phase)
        if self.power_left_a < current_a * len(phases) - EPS_A:
            return self.power_label
        self.take(path, phases, current_a)
        return None


@dataclass(slots=True)
class Item:
    """One admitted connector during water-filling; ``ceiling_a`` only ever goes down."""

    index: int
    floor_a: float
    ceiling_a: float
    reason: str
    path: tuple[int, ...]
    phases: tuple[int, ...]

    @property
    def weight(self) -> int:
        return len(self.phases)


def water_level(items: list[Item], cap_a: float, weighted: bool) -> float:
    """The level t with sum(w * clamp(t, floor, ceiling)) == cap_a, where ``cap_a`` does not yet
    count the items' floors; INF if nothing binds."""
    if not weighted:
        if sum(it.ceiling_a - it.floor_a for it in items) <= cap_a + EPS_A:
            return INF
        floor = items[0].floor_a
        if all(it.floor_a == floor for it in items):
            return floor + _common_floor_level([it.ceiling_a - floor for it in items], cap_a)
    if cap_a <= 0:
        return min(it.floor_a for it in items)
    weights = [it.weight if weighted else 1 for it in items]
    pairs = list(zip(weights, items, strict=True))
    if sum(w * (it.ceiling_a - it.floor_a) for w, it in pairs) <= cap_a + EPS_A:
        return INF
    events = sorted([(it.floor_a, w) for w, it in pairs] + [(it.ceiling_a, -w) for w, it in pairs])
    level, slope, load = events[0][0], 0, 0.0
    for value, delta in events:
        if value > level:
            reached = load + slope * (value - level)
            if reached >= cap_a:
                return level + (cap_a - load) / slope
            load, level = reached, value
        slope += delta
    return level


def _common_floor_level(heights: list[float], cap_a: float) -> float:
    """Equal shares of ``cap_a`` above a common floor, each at most its height."""
    left, count = cap_a, len(heights)
    for height in sorted(heights):
        if height * count > left:
            return max(left, 0.0) / count
        left -= height
        count -= 1
    return INF


def fill(tree: Tree, budget: Budget, items: list[Item]) -> None:
    """Raise every item's level equally from its floor (already taken from ``budget``), bottom-up
    through the tree; each constraint that binds caps its members at its water level and names
    itself as their reason."""
    groups: list[list[list[Item]]] = [[[] for _ in range(PHASE_COUNT)] for _ in tree.nodes]
    for item in items:
        for node in item.path:
            for phase in item.phases:
                groups[node][phase].append(item)
    for node in tree.bottom_up:
        pending = {key: group for key, group in enumerate(groups[node]) if group}
        if node == 0 and items and budget.power_left_a < INF:
            pending[POWER] = list(items)
        _settle_node(tree, budget, node, pending)


def _settle_node(tree: Tree, budget: Budget, node: int, pending: dict[int, list[Item]]) -> None:
    # The lowest water level binds first; freezing its members can only raise the others, so a
    # constraint that does not bind now never will.
    while pending:
        levels = {
            key: water_level(
                group,
                budget.power_left_a if key == POWER else budget.left[node][key],
                key == POWER,
            )
            for key, group in pending.items()
        }
        key = min(levels, key=lambda k: (levels[k], k))
        level = levels[key]
        if level == INF:
            return
        reason = budget.power_label if key == POWER else tree.label(node, key)
        for item in pending.pop(key):
            if level < item.ceiling_a - EPS_A:
                item.ceiling_a = max(level, item.floor_a)
                item.reason = reason
        for other in [k for k, value in levels.items() if value == INF]:
            del pending[other]
