"""Sharing what the fixed loads leave, class by class.

Greedy admission takes each contender's minimum in admission order (``_admit``); then each
priority class, highest first, is water-filled over what is left (``fill``) and rounded down to
the charger's resolution (``_round_down``), and its offers are taken before the next class
shares the rest.

Where ``Outlook.nothing_binds`` shows that no limit can be reached, admission takes everyone
and a class keeps its ceilings without running either step (the usual steady state, for a
fraction of the cost); the full steps resume, from an exact replay of the budget, as soon as a
class might bind.
"""

from __future__ import annotations

import math
from itertools import groupby

from edge_controller.domain.balancing.fill import fill
from edge_controller.domain.balancing.offers import Offer, below_minimum
from edge_controller.domain.balancing.outlook import Outlook
from edge_controller.domain.balancing.tree import Budget, Tally, Tree
from edge_controller.domain.balancing.types import EPS_A, Policy


def share(tree: Tree, fixed: Budget, contenders: list[Offer], policy: Policy) -> list[Offer]:
    """Decide every contender's offer given the fixed loads; returns the admitted ones, in
    admission order."""
    eligible = [o for o in contenders if o.hold is None and not o.ceiling_a < o.floor_a - EPS_A]
    classes = [list(members) for _, members in groupby(eligible, _priority)]
    outlook = Outlook.of(tree, classes, fixed) if classes else None
    if classes and not _nothing_binds(outlook, tree, fixed, 0):
        return _share_in_full(tree, fixed, contenders, policy)
    for offer in contenders:  # all minimums fit: only these are not admitted
        if offer.hold is not None:
            offer.reason = offer.hold
        elif offer.ceiling_a < offer.floor_a - EPS_A:
            offer.reason = below_minimum(offer)
    budget: Budget | None = None  # the full steps' budget, once a class might bind
    for number, members in enumerate(classes):
        if budget is None and number > 0 and not _nothing_binds(outlook, tree, fixed, number):
            budget = _replay(tree, fixed, classes, number)
        if budget is not None:
            fill(tree, budget, members)
        _round_down(members, policy)
        if number == len(classes) - 1:
            break  # the next class shares what this one leaves; none is left
        if budget is not None:
            above = [offer.current_a - offer.floor_a for offer in members]
            budget.take_tally(Tally.of(tree, members, above))
        elif outlook is not None:
            outlook.take(members)
    return eligible


def _share_in_full(
    tree: Tree, fixed: Budget, contenders: list[Offer], policy: Policy
) -> list[Offer]:
    """Admission of the minimums, then each class water-filled over what is left."""
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


def _nothing_binds(outlook: Outlook | None, tree: Tree, fixed: Budget, number: int) -> bool:
    return outlook is not None and outlook.nothing_binds(tree, fixed, number)


def _replay(tree: Tree, fixed: Budget, classes: list[list[Offer]], number: int) -> Budget:
    """The budget as the full steps leave it before class ``number`` is filled: every minimum
    taken in admission order (all fitted: the outlook showed it), then the offers of the
    classes before, each class as one tally."""
    budget = fixed.copy()
    for members in classes:
        for offer in members:
            budget.take(offer.path, offer.phases, offer.floor_a)
    for members in classes[:number]:
        above = [offer.current_a - offer.floor_a for offer in members]
        budget.take_tally(Tally.of(tree, members, above))
    return budget


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
