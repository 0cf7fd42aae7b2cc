"""Water-filling over the limit tree: one priority class raised from its floors together; the
lowest binding constraint caps its members first and names itself as their reason."""

from __future__ import annotations

import heapq

from edge_controller.domain.balancing.offers import Offer
from edge_controller.domain.balancing.tree import (
    INF,
    POWER,
    Budget,
    Tree,
    common_floor_level,
    level_of,
)
from edge_controller.domain.balancing.types import EPS_A, PHASE_COUNT

Key = tuple[int, int]
"""A constraint: its node and phase 0..2, or (0, ``POWER``)."""
Pending = dict[Key, list[Offer]]
"""The members of each constraint that may still bind."""
Way = tuple[tuple[int, ...], tuple[int, ...]]
"""A member's path up the tree and the grid phases it loads."""


def fill(tree: Tree, budget: Budget, members: list[Offer]) -> None:
    """Raise every member's level equally from its floor (already taken from ``budget``); the
    constraint whose water level is lowest binds first: it lowers its members' ceilings to that
    level and names itself as their reason (a tie goes to the lower node)."""
    if _fits(tree, budget, members):
        return  # the usual case: every member keeps its ceiling
    rows: list[list[list[Offer]]] = [[[], [], []] for _ in tree.labels]
    for offer in members:
        phases = offer.phases
        for node in offer.path:
            row = rows[node]
            for phase in phases:
                row[phase].append(offer)
    lowering = _BottomUp()
    for node in tree.bottom_up:
        pending = _may_bind(budget, node, rows[node], members)
        if pending and not lowering.settle_node(tree, budget, pending):
            break
    else:
        return
    # A higher node lowered a member of a constraint that bound below: the room that frees
    # there belongs to the others it capped. Settle again, lowest level first over the tree.
    for offer, ceiling_a, reason in reversed(lowering.changes):
        offer.ceiling_a, offer.reason = ceiling_a, reason
    pending = {}
    for node in tree.bottom_up:
        pending.update(_may_bind(budget, node, rows[node], members))
    _settle(tree, budget, pending)


class _BottomUp:
    """Settles node by node, children first: the cheap way (the levels of one node at a time),
    right unless a node lowers a member of a constraint that bound below it."""

    __slots__ = ("bound", "bound_a", "changes")

    def __init__(self) -> None:
        self.bound_a = -INF  # the highest level of a constraint that lowered a member
        self.bound: set[Key] = set()  # those constraints
        self.changes: list[tuple[Offer, float, str]] = []  # (offer, ceiling, reason) before

    def settle_node(self, tree: Tree, budget: Budget, pending: Pending) -> bool:
        """``_settle`` over one node's constraints; False, and stop, if one lowers a member of
        a constraint that bound below."""
        # Only the levels of the constraints that share a lowered member change: the others
        # are kept (at the grid, hundreds of members).
        levels = {key: _level(budget, key[0], key[1], group) for key, group in pending.items()}
        settled: list[Key] = []
        changes = self.changes
        while pending:
            key = min(levels, key=lambda k: (levels[k], k))
            level = levels.pop(key)
            if level == INF:
                break
            reason = budget.power_label if key[1] == POWER else tree.label(*key)
            # A member of a constraint below with a level no higher than this is not lowered.
            tracking = self.bound_a > level + EPS_A
            lowered: set[int] = set()
            ways: set[Way] = set()
            for offer in pending.pop(key):
                if level < offer.ceiling_a - EPS_A:
                    changes.append((offer, offer.ceiling_a, offer.reason))
                    offer.ceiling_a = max(level, offer.floor_a)
                    offer.reason = reason
                    lowered.add(id(offer))
                    if tracking:
                        ways.add((offer.path, offer.phases))
            if not lowered:
                continue
            if ways and not _on(ways).isdisjoint(self.bound):
                return False
            settled.append(key)
            self.bound_a = max(self.bound_a, level)
            for other in [k for k, value in levels.items() if value == INF]:
                del pending[other], levels[other]
            for other, group in pending.items():
                if any(id(offer) in lowered for offer in group):
                    levels[other] = _level(budget, other[0], other[1], group)
        self.bound.update(settled)
        return True


def _may_bind(budget: Budget, node: int, row: list[list[Offer]], members: list[Offer]) -> Pending:
    """The node's constraints that may bind: lowering ceilings never makes one bind that does
    not now."""
    left = budget.left[node]
    pending: Pending = {
        (node, phase): group
        for phase, group in enumerate(row)
        if group and _binds(group, left[phase])
    }
    cap_a = budget.power_left_a
    if node == 0 and members and cap_a < INF and _power_binds(members, cap_a):
        pending[0, POWER] = list(members)
    return pending


def _settle(tree: Tree, budget: Budget, pending: Pending) -> None:
    """Lowest level first over the whole tree."""
    # Lowering a member's ceiling can only raise the level of the other constraints it is in:
    # a level computed before is a lower bound. So the heap keeps each level until it comes out
    # on top and is found outdated (then it is computed again and put back): the grid's levels,
    # over hundreds of members, are not recomputed for every feeder that binds.
    places = tree.places
    heap = [
        (_level(budget, n, key, group), places[n], key, n) for (n, key), group in pending.items()
    ]
    heapq.heapify(heap)
    outdated: set[Key] = set()
    while heap:
        level, place, key, node = heapq.heappop(heap)
        if level == INF:
            return  # nothing left binds (an outdated level only rises)
        group = pending.pop((node, key))
        if (node, key) in outdated:
            outdated.discard((node, key))
            pending[node, key] = group
            heapq.heappush(heap, (_level(budget, node, key, group), place, key, node))
            continue
        reason = budget.power_label if key == POWER else tree.label(node, key)
        ways: set[Way] = set()  # (members share a few)
        for offer in group:
            if level < offer.ceiling_a - EPS_A:
                offer.ceiling_a = max(level, offer.floor_a)
                offer.reason = reason
                ways.add((offer.path, offer.phases))
        if ways:
            outdated.update(_on(ways) & pending.keys())


def _on(ways: set[Way]) -> set[Key]:
    """The constraints on these ways up the tree."""
    found = {(node, phase) for path, phases in ways for node in path for phase in phases}
    found.add((0, POWER))
    return found


def _fits(tree: Tree, budget: Budget, members: list[Offer]) -> bool:
    """True if each constraint's sum of (ceiling - floor) over its members is within its room
    (and some grid power is left), also after the rounding that summing in another order than
    ``level_of`` may cost: then no water level binds."""
    own = [[0.0, 0.0, 0.0] for _ in tree.labels]
    phase_amps = magnitude = 0.0
    for offer in members:
        height_a, phases = offer.ceiling_a - offer.floor_a, offer.phases
        row = own[offer.path[0]]
        for phase in phases:
            row[phase] += height_a
        phase_amps += height_a * len(phases)
        magnitude += abs(height_a)
    ulps = 3e-15 * (len(members) + 1)  # relative rounding of sums over that many terms
    left, parents = budget.left, tree.parents
    for node in tree.bottom_up:  # children first: each adds its sums to its parent's
        row, limits = own[node], left[node]
        for phase in range(PHASE_COUNT):
            rounding_a = ulps * (magnitude + abs(limits[phase]) + 1.0)
            if not row[phase] <= limits[phase] + EPS_A - rounding_a:
                return False
        if parents[node] >= 0:
            up = own[parents[node]]
            up[0], up[1], up[2] = up[0] + row[0], up[1] + row[1], up[2] + row[2]
    cap_a = budget.power_left_a
    if not members or not cap_a < INF:
        return True
    rounding_a = ulps * (PHASE_COUNT * magnitude + abs(cap_a) + 1.0)
    return cap_a > 0 and phase_amps <= cap_a + EPS_A - rounding_a


def _binds(group: list[Offer], left_a: float) -> bool:
    """Whether a phase of a node may bind: the cheap first test of ``level_of``."""
    return not sum([offer.ceiling_a - offer.floor_a for offer in group]) <= left_a + EPS_A


def _power_binds(members: list[Offer], cap_a: float) -> bool:
    if cap_a <= 0:
        return True
    phase_amps = sum([len(o.phases) * (o.ceiling_a - o.floor_a) for o in members])
    return not phase_amps <= cap_a + EPS_A


def _level(budget: Budget, node: int, key: int, group: list[Offer]) -> float:
    """``level_of`` of the group's floors and ceilings; one phase of a node whose members share
    a floor (the usual case) without the lists of floors and ceilings."""
    if key == POWER:
        floors = [offer.floor_a for offer in group]
        ceilings = [offer.ceiling_a for offer in group]
        weights = [len(offer.phases) for offer in group]
        return level_of(floors, ceilings, weights, budget.power_left_a)
    cap_a, floor_a = budget.left[node][key], group[0].floor_a
    heights = [offer.ceiling_a - offer.floor_a for offer in group]
    if sum(heights) <= cap_a + EPS_A:
        return INF
    if all(offer.floor_a == floor_a for offer in group):
        return floor_a + common_floor_level(heights, cap_a)
    floors = [offer.floor_a for offer in group]
    return level_of(floors, [offer.ceiling_a for offer in group], None, cap_a)
