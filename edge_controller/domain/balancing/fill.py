"""Water-filling over the limit tree: one priority class raised from its floors together; the
lowest binding constraint caps its members first and names itself as their reason."""

from __future__ import annotations

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

Groups = dict[int, list[Offer]]
"""The members of one node per constraint key (phase 0..2, or ``POWER``)."""


def fill(tree: Tree, budget: Budget, members: list[Offer]) -> None:
    """Raise every member's level equally from its floor (already taken from ``budget``),
    bottom-up through the tree; each constraint that binds lowers its members' ceilings to its
    water level and names itself as their reason."""
    if _fits(tree, budget, members):
        return  # the usual case: every member keeps its ceiling
    rows: list[list[list[Offer]]] = [[[], [], []] for _ in tree.labels]
    for offer in members:
        phases = offer.phases
        for node in offer.path:
            row = rows[node]
            for phase in phases:
                row[phase].append(offer)
    with_power = bool(members) and budget.power_left_a < INF
    for node in tree.bottom_up:
        # Only the constraints that may bind: one that does not now never will (see below).
        left = budget.left[node]
        pending: Groups = {
            phase: group
            for phase, group in enumerate(rows[node])
            if group and _binds(group, left[phase])
        }
        if node == 0 and with_power and _power_binds(members, budget.power_left_a):
            pending[POWER] = list(members)
        if pending:
            _settle_node(tree, budget, node, pending)


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


def _settle_node(tree: Tree, budget: Budget, node: int, pending: Groups) -> None:
    # The lowest water level binds first; freezing its members can only raise the others, so a
    # constraint that does not bind now never will. Only the levels of the constraints that
    # share a lowered member change: the others are kept (at the grid, hundreds of members).
    levels = {key: _level(budget, node, key, group) for key, group in pending.items()}
    while pending:
        key = min(levels, key=lambda k: (levels[k], k))
        level = levels.pop(key)
        if level == INF:
            return
        reason = budget.power_label if key == POWER else tree.label(node, key)
        lowered: set[int] = set()
        for offer in pending.pop(key):
            if level < offer.ceiling_a - EPS_A:
                offer.ceiling_a = max(level, offer.floor_a)
                offer.reason = reason
                lowered.add(id(offer))
        for other in [k for k, value in levels.items() if value == INF]:
            del pending[other], levels[other]
        for other, group in pending.items():
            if lowered and any(id(offer) in lowered for offer in group):
                levels[other] = _level(budget, node, other, group)


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
