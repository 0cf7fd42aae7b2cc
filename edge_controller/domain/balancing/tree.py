"""The limit tree and water-filling over it.

Node 0 is the grid connection; feeders hang below it. Every node has a per-phase limit; the grid
may also carry a total power limit, modelled as one more constraint over the sum of phase
currents ("phase-amps"). ``Budget`` tracks what is left of every constraint.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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
    feeder_paths: dict[str | None, tuple[int, ...]]  # a feeder's (None: the grid's) path
    places: list[int]  # each node's place in ``bottom_up``

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
        feeder_paths = {feeder: paths[node] for feeder, node in index.items()}
        places = [0] * len(labels)
        for place, node in enumerate(order):
            places[node] = place
        return cls(labels, limits, parents, index, paths, order, feeder_paths, places)

    def path(self, feeder: str | None) -> tuple[int, ...]:
        if feeder not in self.feeder_paths:
            raise ValueError(f"unknown feeder {feeder!r}")
        return self.feeder_paths[feeder]

    def label(self, node: int, key: int) -> str:
        if key == POWER:
            return f"{self.labels[node]} power"
        return f"{self.labels[node]} L{key + 1} {self.limits[node]:g} A"


def tree_of(site: Site) -> Tree:
    """``Tree.build`` once per distinct site (a site rarely changes between decisions). The
    result is shared: read it, never change it. The same site object as last time is found
    without hashing it (that hashes every feeder)."""
    last = _LAST[0]
    if last is not None:
        last_site, last_tree = last
        if last_site is site:
            return last_tree
    tree = _tree_of(site)
    _LAST[0] = (site, tree)
    return tree


_LAST: list[tuple[Site, Tree] | None] = [None]


@functools.lru_cache(maxsize=16)
def _tree_of(site: Site) -> Tree:
    return Tree.build(site)


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

    def take_tally(self, tally: Tally) -> None:
        """Take what ``tally`` counted: each node's own total is passed up the tree once (cheaper
        than walking every connector's path)."""
        tree, own, left = self.tree, tally.own, self.left
        parents = tree.parents
        for node in tree.bottom_up:  # children first: each adds its total to its parent
            row, into = own[node], left[node]
            into[0] -= row[0]
            into[1] -= row[1]
            into[2] -= row[2]
            parent = parents[node]
            if parent >= 0:
                up = own[parent]
                up[0] += row[0]
                up[1] += row[1]
                up[2] += row[2]
        self.power_left_a -= tally.phase_amps

    def take_if_fits(
        self, path: tuple[int, ...], phases: tuple[int, ...], current_a: float
    ) -> str | None:
        """Take ``current_a`` if it fits every limit on the way; else the first limit it would
        exceed (and nothing is taken)."""
        need_a, left = current_a - EPS_A, self.left
        for node in path:
            row = left[node]
            for phase in phases:
                if row[phase] < need_a:
                    return self.tree.label(node, phase)
        if self.power_left_a < current_a * len(phases) - EPS_A:
            return self.power_label
        for node in path:  # as ``take``, inlined: this runs for every admitted connector
            row = left[node]
            for phase in phases:
                row[phase] -= current_a
        self.power_left_a -= current_a * len(phases)
        return None


class Drawing(Protocol):
    """Where a connector draws: its path up the tree and the grid phases it loads."""

    @property
    def path(self) -> tuple[int, ...]: ...
    @property
    def phases(self) -> tuple[int, ...]: ...


class Offered(Drawing, Protocol):
    """A connector with the current it is offered."""

    @property
    def current_a(self) -> float: ...


@dataclass(slots=True)
class Tally:
    """Currents drawn at each node itself (not yet passed up to its parents), per phase, and
    their sum over phases ("phase-amps"), in the order they were added."""

    own: list[list[float]]
    phase_amps: float = 0.0

    @classmethod
    def start(cls, tree: Tree) -> Tally:
        return cls([[0.0, 0.0, 0.0] for _ in tree.labels])

    @classmethod
    def of(cls, tree: Tree, offers: Sequence[Drawing], currents_a: Sequence[float]) -> Tally:
        """What each of ``offers`` draws at its current in ``currents_a``, added in order."""
        own = [[0.0, 0.0, 0.0] for _ in tree.labels]
        phase_amps = 0.0
        for offer, current_a in zip(offers, currents_a, strict=True):
            if not current_a:  # adding a zero changes no sum: skip the bookkeeping
                continue
            row, phases = own[offer.path[0]], offer.phases
            for phase in phases:
                row[phase] += current_a
            phase_amps += current_a * len(phases)
        return cls(own, phase_amps)

    @classmethod
    def of_offers(cls, tree: Tree, offers: Sequence[Offered]) -> Tally:
        """What each of ``offers`` draws at its offer, added in order (as ``of``)."""
        own = [[0.0, 0.0, 0.0] for _ in tree.labels]
        phase_amps = 0.0
        for offer in offers:
            current_a = offer.current_a
            if not current_a:
                continue
            row, phases = own[offer.path[0]], offer.phases
            for phase in phases:
                row[phase] += current_a
            phase_amps += current_a * len(phases)
        return cls(own, phase_amps)


def level_of(
    floors: Sequence[float], ceilings: Sequence[float], weights: list[int] | None, cap_a: float
) -> float:
    """The water level t with sum(w * clamp(t, floor, ceiling)) == ``cap_a`` above the floors
    (``cap_a`` does not count them); INF if nothing binds. ``weights`` None: each counts once."""
    if weights is None:
        heights = [c - f for f, c in zip(floors, ceilings, strict=True)]
        if sum(heights) <= cap_a + EPS_A:
            return INF
        floor = floors[0]
        if all(f == floor for f in floors):  # then each height is its ceiling minus ``floor``
            return floor + common_floor_level(heights, cap_a)
    if cap_a <= 0:
        return min(floors)
    weights = weights or [1] * len(floors)
    heights = [w * (c - f) for w, f, c in zip(weights, floors, ceilings, strict=True)]
    if sum(heights) <= cap_a + EPS_A:
        return INF
    return _rising_level(_slope_changes(floors, ceilings, weights), cap_a)


def _slope_changes(
    floors: Sequence[float], ceilings: Sequence[float], weights: list[int]
) -> dict[float, int]:
    """How the load's slope changes at each level: a member starts rising at its floor and
    stops at its ceiling (members share a few distinct levels: far fewer than members)."""
    changes: dict[float, int] = {}
    for weight, floor_a, ceiling_a in zip(weights, floors, ceilings, strict=True):
        changes[floor_a] = changes.get(floor_a, 0) + weight
        changes[ceiling_a] = changes.get(ceiling_a, 0) - weight
    return changes


def _rising_level(changes: dict[float, int], cap_a: float) -> float:
    """Raise the level from the lowest floor until the load reaches ``cap_a``."""
    values = sorted(changes)
    level, slope, load = values[0], 0, 0.0
    for value in values:
        if value > level:
            reached = load + slope * (value - level)
            if reached >= cap_a:
                return level + (cap_a - load) / slope
            load, level = reached, value
        slope += changes[value]
    return level


def common_floor_level(heights: list[float], cap_a: float) -> float:
    """Equal shares of ``cap_a`` above a common floor, each at most its height."""
    left, count = cap_a, len(heights)
    for height in sorted(heights):
        if height * count > left:
            return max(left, 0.0) / count
        left -= height
        count -= 1
    return INF
