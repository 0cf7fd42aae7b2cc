"""Increases while lowered EVs still follow their lower offer.

An EV has ``Policy.decrease_settle_s`` (5 s in IEC 61851-1) to follow a lower offer; until then
it may still draw the offer it was lowered from. Decreases apply at once. An increase (a start
too) is granted only from the room left with every connector counted at the higher of its offer
and what it may still draw, in admission order; where that room runs out, the increase is cut
and its reason names the constraint that lacked the room first and the settling second
("feeder carport L1 32 A; settling after a decrease"). A connector lowered in this very step
counts at its previous offer, so old and new offers never add up on a constraint. A lowered
connector itself gets no increase until its EV has had the time to follow: each change of the
offer gives the EV that time again (IEC 61851-1), so raising it meanwhile, even below what it
may draw, would let it hold its higher draw longer.

Only the constraints that lowered EVs load are held back: a connector on an unrelated feeder
goes up at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edge_controller.domain.balancing.fill import Columns
from edge_controller.domain.balancing.order import SETTLING, Candidate
from edge_controller.domain.balancing.tree import INF, Budget, Tree
from edge_controller.domain.balancing.types import EPS_A, ConnectorDemand, DemandState, Policy

_WANTING = (DemandState.WAITING, DemandState.CHARGING, DemandState.PAUSED)


def fit_increases(
    tree: Tree,
    fixed: Budget,
    demands: Sequence[ConnectorDemand],
    cols: Columns,
    admitted: list[Candidate],
    *,
    now_s: float,
    policy: Policy,
) -> bool:
    """Cut the increases in ``cols`` to the room the lowered EVs leave; True if any was cut.
    A start cut this way has shared the room with the others (they may have been lowered for
    it): that is how a paused EV takes its turn, once the lowered ones have followed."""
    offers, before = cols.offer_a, cols.before_a
    if offers == before:  # the steady state: nothing changes (one comparison in C)
        return False
    rises = [index for _, index, _ in admitted if offers[index] > before[index] + EPS_A]
    if not rises:
        return False
    following = still_drawn(demands, cols, now_s)
    if not any(following):
        return False
    rising = set(rises)
    counted = [
        max(before[i] if i in rising else offers[i], following[i]) for i in range(len(offers))
    ]
    budget = fixed.copy()
    budget.take_each(enumerate(counted), cols.paths, cols.phases)
    cut = False
    for index in rises:
        cut = _grant(tree, budget, cols, (index, following[index]), policy) or cut
    return cut


def hold_starts(
    tree: Tree,
    fixed: Budget,
    demands: Sequence[ConnectorDemand],
    cols: Columns,
    cands: list[Candidate],
    *,
    now_s: float,
) -> list[Candidate]:
    """``cands`` with each start held whose minimum does not fit beside what every connector
    may draw now (its offer, or more while its EV follows a lowering). Admitted, it would only
    share the room and be cut (and a lowered EV lowered again would follow later still)."""
    if not cols.settling:  # the usual case: nobody follows a lowering
        return cands
    following = still_drawn(demands, cols, now_s, earlier_only=True)
    if not any(following):
        return cands
    before = cols.before_a
    drawing = [
        max(before[i], following[i]) if demand.state in _WANTING else 0.0
        for i, demand in enumerate(demands)
    ]
    budget = fixed.copy()
    budget.take_each(enumerate(drawing), cols.paths, cols.phases)
    checked: list[Candidate] = []
    for key, index, hold in cands:
        why = hold
        if hold is None and before[index] <= 0:
            room_a, label = _room(tree, budget, cols.paths[index], cols.phases[index])
            if room_a < cols.floor_a[index] - EPS_A:
                why = f"paused: {label}; {SETTLING}"
        checked.append((key, index, why))
    return checked


def still_drawn(
    demands: Sequence[ConnectorDemand], cols: Columns, now_s: float, *, earlier_only: bool = False
) -> list[float]:
    """Per connector: the most its EV may still draw from an earlier, higher offer (0: none),
    counting a lowering in this step unless ``earlier_only``."""
    offers, before_a = cols.offer_a, cols.before_a
    drawn = [0.0] * len(offers)
    for index, record in enumerate(cols.before):
        if record is None or demands[index].state not in _WANTING:
            continue
        amps = record.settling_from_a if now_s < record.settled_at_s else 0.0
        if not earlier_only and offers[index] < before_a[index] - EPS_A:
            amps = max(amps, before_a[index])
        drawn[index] = amps
    return drawn


def _grant(
    tree: Tree, budget: Budget, cols: Columns, rising: tuple[int, float], policy: Policy
) -> bool:
    """Grant one connector's increase from ``budget`` as far as it fits; True if cut."""
    index, following_a = rising
    wanted_a, before_a = cols.offer_a[index], cols.before_a[index]
    if following_a > 0:  # lowered and not yet followed: another change would give it more time
        cols.offer_a[index] = before_a
        cols.reason[index] = f"{cols.reason[index]}; {SETTLING}"
        return True
    path, phases = cols.paths[index], cols.phases[index]
    room_a, label = _room(tree, budget, path, phases)
    base_a = before_a
    if room_a >= wanted_a - base_a - EPS_A:
        budget.take(path, phases, wanted_a - base_a)
        return False
    step_a = policy.resolution_a
    granted_a = round(math.floor((base_a + max(room_a, 0.0)) / step_a + EPS_A) * step_a, 6)
    if granted_a < cols.floor_a[index] - EPS_A or (
        before_a > 0 and granted_a < before_a + policy.min_increase_a
    ):
        granted_a = before_a  # no start below the minimum; no step below the hysteresis
    if granted_a > base_a:
        budget.take(path, phases, granted_a - base_a)
    cols.offer_a[index] = granted_a
    cut_reason = f"{label}; {SETTLING}"
    cols.reason[index] = cut_reason if granted_a > 0 else f"paused: {cut_reason}"
    return True


def _room(
    tree: Tree, budget: Budget, path: tuple[int, ...], phases: tuple[int, ...]
) -> tuple[float, str]:
    """The least room on the connector's constraints (in path order, then phase order) and the
    label of the first constraint with that room."""
    room_a, label = INF, ""
    for node in path:
        row = budget.left[node]
        for phase in phases:
            if row[phase] < room_a:
                room_a, label = row[phase], tree.label(node, phase)
    if budget.power_left_a < INF:
        power_room_a = budget.power_left_a / len(phases)
        if power_room_a < room_a:
            room_a, label = power_room_a, budget.power_label
    return room_a, label
