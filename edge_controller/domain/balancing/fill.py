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


def fill(tree: Tree, budget: Budget, members: list[Offer]) -> None:
    """Raise every member's level equally from its floor (already taken from ``budget``); the
    constraint whose water level is lowest, over the whole tree, binds first: it lowers its
    members' ceilings to that level and names itself as their reason (a tie goes to the lower
    node). Lowest first, not node by node: a member a higher node holds lower frees room at the
    lower nodes it shares, and the others there take it."""
    if _fits(tree, budget, members):
        return  # the usual case: every member keeps its ceiling
    rows: list[list[list[Offer]]] = [[[], [], []] for _ in tree.labels]
    for offer in members:
        phases = offer.phases
        for node in offer.path:
            row = rows[node]
            for phase in phases:
                row[phase].append(offer)
    # Only the constraints that may bind: lowering ceilings never makes one bind that does not.
    pending: Pending = {}
    for node in tree.bottom_up:
        left = budget.left[node]
        for phase, group in enumerate(rows[node]):
            if group and _binds(group, left[phase]):
                pending[node, phase] = group
    if members and budget.power_left_a < INF and _power_binds(members, budget.power_left_a):
        pending[0, POWER] = list(members)
    if pending:
        _settle(tree, budget, pending)


def _settle(tree: Tree, budget: Budget, pending: Pending) -> None:
    # Lowering a member's ceiling can only raise the level of the other constraints it is in:
    # a level computed before is a lower bound. So the heap keeps each level until it comes out
    # on top and is found outdated (then it is computed again and put back): the grid's levels,
    # over hundreds of members, are not recomputed for every feeder that binds.
    rank = {node: number for number, node in enumerate(tree.bottom_up)}
    heap = [
        (_level(budget, node, key, group), rank[node], key, node)
        for (node, key), group in pending.items()
    ]
    heapq.heapify(heap)
    outdated: set[Key] = set()
    while heap:
        level, order, key, node = heapq.heappop(heap)
        if level == INF:
            return  # nothing left binds (an outdated level only rises)
        group = pending.pop((node, key))
        if (node, key) in outdated:
            outdated.discard((node, key))
            pending[node, key] = group
            heapq.heappush(heap, (_level(budget, node, key, group), order, key, node))
            continue
        reason = budget.power_label if key == POWER else tree.label(node, key)
        lowered: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()  # (members share a few)
        for offer in group:
            if level < offer.ceiling_a - EPS_A:
                offer.ceiling_a = max(level, offer.floor_a)
                offer.reason = reason
                lowered.add((offer.path, offer.phases))
        if lowered:
            outdated.update(_shared(lowered, pending))


def _shared(ways: set[tuple[tuple[int, ...], tuple[int, ...]]], pending: Pending) -> set[Key]:
    """The pending constraints on these ways (path, phases) up the tree."""
    found = {(node, phase) for path, phases in ways for node in path for phase in phases}
    found.add((0, POWER))
    return found & pending.keys()


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
