"""Admission and water-filling, class by class, with a short cut where neither can bind.

Greedy admission takes each candidate's minimum in admission order (``admit``); then each
priority class, highest first, is water-filled over what is left and settled to the charger's
resolution, and its offers are taken before the next class shares the rest. Where
``Outlook.nothing_binds`` shows that no limit can be reached, admission takes everyone and the
class keeps its ceilings without running either step; the full steps resume, from an exact
replay of the budget, as soon as a class might bind.
"""

from __future__ import annotations

import math
from itertools import groupby

from edge_controller.domain.balancing.fill import Columns, fill
from edge_controller.domain.balancing.order import Candidate, below_minimum
from edge_controller.domain.balancing.outlook import Outlook
from edge_controller.domain.balancing.tree import Budget, Tally, Tree
from edge_controller.domain.balancing.types import EPS_A, Policy

Admission = tuple[list[Candidate], list[int], Tally]
"""The admitted, the indices of the rejected (both in order) and the tally of every offer."""
Split = tuple[list[Candidate], list[Candidate], list[list[int]]]
"""The eligible and the held candidates (both in order), and the eligible per class."""


def admit_and_fill(
    tree: Tree, fixed: Budget, cands: list[Candidate], cols: Columns, policy: Policy
) -> Admission:
    """Decide every candidate's offer (in ``cols``) given the fixed loads."""
    eligible, held, classes = _eligible(cands, cols)
    floor, reasons = cols.floor_a, cols.reason
    offered = Tally.start(tree)
    outlook = Outlook.of(tree, cols, classes, fixed) if _plain(floor) else None
    if not classes or (outlook is not None and outlook.nothing_binds(tree, fixed, 0, offered)):
        ceiling = cols.ceiling_a
        for _, index, hold in held:
            reasons[index] = hold or below_minimum(reasons[index], ceiling[index], floor[index])
        _fill_classes(tree, (fixed, None, outlook), classes, cols, policy, offered=offered)
        return eligible, [index for _, index, _ in held], offered
    budget = fixed.copy()
    admitted, rejected = admit(budget, cands, cols)
    _fill_classes(tree, (fixed, budget, None), _classes(admitted), cols, policy, offered=offered)
    return admitted, rejected, offered


def _eligible(cands: list[Candidate], cols: Columns) -> Split:
    """Those that may start and whose caps allow their minimum, the others, and the indices of
    the former per priority class (as ``_classes`` would, in the same pass)."""
    eligible: list[Candidate] = []
    held: list[Candidate] = []
    classes: list[list[int]] = []
    members: list[int] = []
    floor, ceiling = cols.floor_a, cols.ceiling_a
    class_of: int | None = None
    for cand in cands:
        key, index, hold = cand
        if hold is None and not ceiling[index] < floor[index] - EPS_A:
            eligible.append(cand)
            if key[0] != class_of:
                class_of, members = key[0], []
                classes.append(members)
            members.append(index)
        else:
            held.append(cand)
    return eligible, held, classes


def _plain(amounts: list[float]) -> bool:
    """No negative and no NaN: the outlook's bounds on rounding assume it."""
    return min(amounts, default=0.0) >= 0 and not math.isnan(sum(amounts))


def _classes(admitted: list[Candidate]) -> list[list[int]]:
    """Indices per priority class, highest first (admission order keeps a class together)."""
    return [[index for _, index, _ in members] for _, members in groupby(admitted, _class_of)]


def _class_of(cand: Candidate) -> int:
    return cand[0][0]  # minus the priority


def admit(
    budget: Budget, cands: list[Candidate], cols: Columns
) -> tuple[list[Candidate], list[int]]:
    """Greedy admission in order: each admitted connector's minimum is taken from ``budget``.
    Returns the admitted and the indices of the rejected (in order)."""
    admitted: list[Candidate] = []
    rejected: list[int] = []
    floor, ceiling, reasons = cols.floor_a, cols.ceiling_a, cols.reason
    paths, phases, take_if_fits = cols.paths, cols.phases, budget.take_if_fits
    for cand in cands:
        _, index, why = cand
        if why is None:
            floor_a = floor[index]
            if ceiling[index] < floor_a - EPS_A:
                why = below_minimum(reasons[index], ceiling[index], floor_a)
            elif (misfit := take_if_fits(paths[index], phases[index], floor_a)) is None:
                admitted.append(cand)
                continue
            else:
                why = f"paused: {misfit} full"
        reasons[index] = why
        rejected.append(index)
    return admitted, rejected


def _fill_classes(
    tree: Tree,
    budgets: tuple[Budget, Budget | None, Outlook | None],
    classes: list[list[int]],
    cols: Columns,
    policy: Policy,
    *,
    offered: Tally,
) -> None:
    """Water-fill and settle each class; its offers are taken from the budget left after
    admission before the next class shares the rest. ``budgets``: the fixed loads, that budget
    (None while the outlook shows that nothing binds) and the outlook (None: always fill)."""
    fixed, budget, outlook = budgets
    for number, members in enumerate(classes):
        if budget is None and number > 0 and _may_bind(tree, fixed, outlook, number, offered):
            budget = _replay(fixed, classes, number, cols)
        if budget is not None:
            fill(tree, budget, cols, members)  # this class's minimums are already taken
        _settle(members, cols, policy, offered)
        if budget is not None and number < len(classes) - 1:  # (no one reads it after the last)
            _take_offers(budget, members, cols)


def _may_bind(
    tree: Tree, fixed: Budget, outlook: Outlook | None, number: int, offered: Tally
) -> bool:
    return outlook is None or not outlook.nothing_binds(tree, fixed, number, offered)


def _replay(fixed: Budget, classes: list[list[int]], number: int, cols: Columns) -> Budget:
    """The budget as the full steps leave it before class ``number`` is filled: every minimum
    taken in admission order (all fitted: the first outlook showed it), then the offers of the
    classes before."""
    budget = fixed.copy()
    paths, phases, floor = cols.paths, cols.phases, cols.floor_a
    for members in classes:
        for index in members:
            budget.take(paths[index], phases[index], floor[index])
    for members in classes[:number]:
        _take_offers(budget, members, cols)
    return budget


def _take_offers(budget: Budget, members: list[int], cols: Columns) -> None:
    offers, floor = cols.offer_a, cols.floor_a
    taken = [offers[i] - floor[i] for i in members]
    budget.take_each(zip(members, taken, strict=True), cols.paths, cols.phases)


def _settle(members: list[int], cols: Columns, policy: Policy, offered: Tally) -> None:
    """Round down to the charger's resolution; hold small increases (hysteresis). Counts each
    offer in ``offered`` (as ``Tally.add``, inlined: this runs for every admitted connector)."""
    step, min_increase_a = policy.resolution_a, policy.min_increase_a
    floor, ceiling, reasons = cols.floor_a, cols.ceiling_a, cols.reason
    offers, before, paths, phases = cols.offer_a, cols.before_a, cols.paths, cols.phases
    own, phase_amps = offered.own, offered.phase_amps
    steps: dict[float, tuple[float, float]] = {}  # ceiling → (rounded down, that to 6 places)
    for index in members:
        ceiling_a = ceiling[index]
        if (rounded := steps.get(ceiling_a)) is None:  # members share a few ceilings
            down_a = math.floor(ceiling_a / step + EPS_A) * step
            rounded = steps[ceiling_a] = (down_a, round(down_a, 6))
        floor_a = floor[index]
        current = rounded[1] if rounded[0] > floor_a else round(floor_a, 6)
        prev_a = before[index]
        if prev_a < current and prev_a > 0 and current < prev_a + min_increase_a:
            current = prev_a
            reasons[index] = f"{reasons[index]}; hysteresis (holding {prev_a:g} A)"
        offers[index] = current
        row, wired = own[paths[index][0]], phases[index]
        for phase in wired:
            row[phase] += current
        phase_amps += current * len(wired)
    offered.phase_amps = phase_amps
