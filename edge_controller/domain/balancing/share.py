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
from dataclasses import dataclass
from itertools import groupby

from edge_controller.domain.balancing.fill import fill
from edge_controller.domain.balancing.offers import HYSTERESIS, Offer, below_minimum, full
from edge_controller.domain.balancing.outlook import Outlook
from edge_controller.domain.balancing.tree import INF, Budget, Tally, Tree
from edge_controller.domain.balancing.types import EPS_A, Policy


@dataclass(slots=True)
class Shared:
    """The admitted offers in admission order, and what they draw (counted as each class was
    rounded, in that order: the recount of the offers as long as none changes)."""

    admitted: list[Offer]
    offered: Tally


def share(
    tree: Tree, fixed: Budget, contenders: list[Offer], policy: Policy, now_s: float
) -> Shared:
    """Decide every contender's offer given the fixed loads (at ``now_s``, for the hysteresis's
    holds)."""
    classes, held = _eligible(contenders)
    outlook = Outlook.of(tree, classes, fixed) if classes else None
    if classes and not _nothing_binds(outlook, tree, fixed, 0):
        return _share_in_full(tree, fixed, contenders, policy, now_s)
    for offer in held:  # all minimums fit: only these are not admitted
        offer.reason = offer.hold if offer.hold is not None else below_minimum(offer)
    offered = Tally.start(tree)
    budget: Budget | None = None  # the full steps' budget, once a class might bind
    for number, members in enumerate(classes):
        if budget is None and number > 0 and not _nothing_binds(outlook, tree, fixed, number):
            budget = _replay(tree, fixed, classes, number)
        if budget is not None:
            fill(tree, budget, members)
        _round_down(members, policy, offered, now_s)
        if number == len(classes) - 1:
            break  # the next class shares what this one leaves; none is left
        if budget is not None:
            above = [offer.current_a - offer.floor_a for offer in members]
            budget.take_tally(Tally.of(tree, members, above))
        elif outlook is not None:
            outlook.take(members)
    return Shared([offer for members in classes for offer in members], offered)


def _eligible(contenders: list[Offer]) -> tuple[list[list[Offer]], list[Offer]]:
    """Those that may start and whose caps allow their minimum, per priority class (admission
    order keeps a class together), and the others."""
    classes: list[list[Offer]] = []
    held: list[Offer] = []
    members: list[Offer] = []
    priority = None
    for offer in contenders:
        if offer.hold is not None or offer.ceiling_a < offer.floor_a - EPS_A:
            held.append(offer)
            continue
        if offer.key[0] != priority:  # (minus the priority)
            priority, members = offer.key[0], []
            classes.append(members)
        members.append(offer)
    return classes, held


def _share_in_full(
    tree: Tree, fixed: Budget, contenders: list[Offer], policy: Policy, now_s: float
) -> Shared:
    """Admission of the minimums, then each class water-filled over what is left."""
    budget = fixed.copy()
    admitted = _admit(budget, contenders)
    classes = [list(members) for _, members in groupby(admitted, _priority)]
    offered = Tally.start(tree)
    for number, members in enumerate(classes):
        fill(tree, budget, members)  # this class's minimums are already taken
        _round_down(members, policy, offered, now_s)
        if number < len(classes) - 1:  # the next class shares what this one leaves
            above = [offer.current_a - offer.floor_a for offer in members]
            budget.take_tally(Tally.of(tree, members, above))
    return Shared(admitted, offered)


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
                why = full(misfit)
        offer.reason = why
    return admitted


def _round_down(members: list[Offer], policy: Policy, offered: Tally, now_s: float) -> None:
    """Each offer is its ceiling rounded down to the charger's resolution (never below its
    minimum); a small increase is held (hysteresis, ``_held``). Each offer is counted in
    ``offered``."""
    step_a, min_increase_a = policy.resolution_a, policy.min_increase_a
    rounded: dict[float, tuple[float, float]] = {}  # ceiling → (rounded down, that to 6 places)
    floors: dict[float, float] = {}  # floor → to 6 places
    own, phase_amps = offered.own, offered.phase_amps
    for offer in members:  # (members share a few ceilings and floors: each rounded once)
        ceiling_a, floor_a = offer.ceiling_a, offer.floor_a
        if (down := rounded.get(ceiling_a)) is None:
            down_a = math.floor(ceiling_a / step_a + EPS_A) * step_a
            down = rounded[ceiling_a] = (down_a, round(down_a, 6))
        down_a, current_a = down
        if not down_a > floor_a:
            shown_a = floors.get(floor_a) if floor_a else None  # (a zero keeps its own sign)
            if shown_a is None:
                shown_a = floors[floor_a] = round(floor_a, 6)
            current_a = shown_a
        before_a = offer.before_a
        if 0 < before_a < current_a < before_a + min_increase_a:
            current_a = _held(offer, current_a, now_s, policy.min_increase_hold_s)
        offer.current_a = current_a
        if current_a:  # (as ``Tally.of_offers``, inline: this runs for every admitted one)
            row, phases = own[offer.path[0]], offer.phases
            for phase in phases:
                row[phase] += current_a
            phase_amps += current_a * len(phases)
    offered.phase_amps = phase_amps


def _held(offer: Offer, share_a: float, now_s: float, hold_s: float) -> float:
    """The offer of a running connector whose share is above its offer by less than the
    hysteresis: its offer, held, until the share has stayed above it for ``hold_s`` without a
    break; then the lowest the share was meanwhile. Held forever, a lowering on the way (a
    reading of a moment, a parent's budget) left an EV under its share for the rest of its
    session, two steps under it behind a parent that holds its child's budget the same way;
    given at once, every wobble of the share would be a write. Given at its lowest, a share
    that wobbles is followed only as far as it stays, at most once per ``hold_s``. The share
    fits every limit, and so does anything below it."""
    before = offer.before
    since_s, least_a = (INF, 0.0) if before is None else (before.held_since_s, before.held_least_a)
    if since_s > now_s:  # not held before (or the record is of a later clock): from now
        since_s, least_a = now_s, share_a
    else:
        least_a = min(least_a, share_a)
    if now_s - since_s >= hold_s:
        return least_a
    offer.held_since_s, offer.held_least_a = since_s, least_a
    offer.reason = f"{offer.reason}{HYSTERESIS}{offer.before_a:g} A)"
    return offer.before_a
