"""Sharing what the fixed loads leave, class by class.

Greedy admission takes each contender's minimum in admission order (``_admit``); then each
priority class, highest first, is water-filled over what is left (``fill``) and rounded down to
the charger's resolution (``_round_down``), and its offers are taken before the next class
shares the rest.

Where no limit can be reached (``_nothing_binds``: every contender at its ceiling fits, with
room for the rounding), admission would take everyone and the water-filling would change
nothing: both are skipped, the usual steady state for a fraction of the cost.
"""

from __future__ import annotations

import math
from itertools import groupby

from edge_controller.domain.balancing.fill import fill
from edge_controller.domain.balancing.offers import Offer, below_minimum
from edge_controller.domain.balancing.tree import INF, Budget, Tally, Tree
from edge_controller.domain.balancing.types import EPS_A, Policy


def share(tree: Tree, fixed: Budget, contenders: list[Offer], policy: Policy) -> list[Offer]:
    """Decide every contender's offer given the fixed loads; returns the admitted ones, in
    admission order."""
    eligible = [o for o in contenders if o.hold is None and not o.ceiling_a < o.floor_a - EPS_A]
    if _nothing_binds(tree, fixed, eligible, policy):
        for offer in contenders:
            if offer.hold is not None:
                offer.reason = offer.hold
            elif offer.ceiling_a < offer.floor_a - EPS_A:
                offer.reason = below_minimum(offer)
        _round_down(eligible, policy)
        return eligible
    budget = fixed.copy()
    admitted = _admit(budget, contenders)
    classes = [list(members) for _, members in groupby(admitted, _priority)]
    for number, members in enumerate(classes):
        fill(tree, budget, members)  # this class's minimums are already taken
        _round_down(members, policy)
        if number < len(classes) - 1:  # the next class shares what this one leaves
            above = [offer.current_a - offer.floor_a for offer in members]
            budget.take_tally(Tally.of(tree, members, above))
    return admitted


def _priority(offer: Offer) -> int:
    return offer.demand.priority


def _admit(budget: Budget, contenders: list[Offer]) -> list[Offer]:
    """Greedy admission in order: each admitted contender's minimum is taken from ``budget``;
    the others get their reason."""
    admitted: list[Offer] = []
    for offer in contenders:
        why = offer.hold
        if why is None:
            if offer.ceiling_a < offer.floor_a - EPS_A:
                why = below_minimum(offer)
            elif (misfit := budget.take_if_fits(offer.path, offer.phases, offer.floor_a)) is None:
                admitted.append(offer)
                continue
            else:
                why = f"paused: {misfit} full"
        offer.reason = why
    return admitted


def _round_down(members: list[Offer], policy: Policy) -> None:
    """Each offer is its ceiling rounded down to the charger's resolution (never below its
    minimum); a small increase is held (hysteresis)."""
    step_a, min_increase_a = policy.resolution_a, policy.min_increase_a
    rounded: dict[float, tuple[float, float]] = {}  # ceiling → (rounded down, that to 6 places)
    for offer in members:
        ceiling_a = offer.ceiling_a
        if (down := rounded.get(ceiling_a)) is None:  # members share a few ceilings
            down_a = math.floor(ceiling_a / step_a + EPS_A) * step_a
            down = rounded[ceiling_a] = (down_a, round(down_a, 6))
        down_a, shown_a = down
        current_a = shown_a if down_a > offer.floor_a else round(offer.floor_a, 6)
        before_a = offer.before_a
        if 0 < before_a < current_a < before_a + min_increase_a:
            current_a = before_a
            offer.reason = f"{offer.reason}; hysteresis (holding {before_a:g} A)"
        offer.current_a = current_a


def _nothing_binds(tree: Tree, fixed: Budget, eligible: list[Offer], policy: Policy) -> bool:
    """True if every limit holds with each eligible contender at the most it can be offered
    (the higher of its floor and its ceiling, plus what rounding it to the resolution may add)
    and grid power is left: then all minimums fit and no water level binds, in any class.
    These sums run in another order than admission and filling: their rounding is allowed for."""
    if not eligible:
        return True
    floors = [offer.floor_a for offer in eligible]
    if min(floors) < 0 or math.isnan(sum(floors)):
        return False  # the bounds below assume neither
    rounding_up_a = policy.resolution_a * EPS_A + 1e-6
    # Each at the higher of its ceiling and its floor (a NaN ceiling stays NaN).
    highs = [
        (o.ceiling_a if not o.ceiling_a <= o.floor_a else o.floor_a) + rounding_up_a
        for o in eligible
    ]
    tally = Tally.of(tree, eligible, highs)
    magnitude_a = 3 * tally.phase_amps
    ulps = 1e-15 * (len(eligible) + 1)  # some 9 units in the last place per term: generous
    own, parents, left = tally.own, tree.parents, fixed.left
    for node in tree.bottom_up:  # children first: each adds its sums to its parent's
        row, limits = own[node], left[node]
        for phase in range(3):
            room_a = limits[phase] + EPS_A - ulps * (magnitude_a + abs(limits[phase]) + 1.0)
            if not row[phase] <= room_a:
                return False
        if parents[node] >= 0:
            up = own[parents[node]]
            up[0], up[1], up[2] = up[0] + row[0], up[1] + row[1], up[2] + row[2]
    cap_a = fixed.power_left_a
    if not cap_a < INF:
        return True
    return tally.phase_amps < cap_a - ulps * (magnitude_a + abs(cap_a) + 1.0)
