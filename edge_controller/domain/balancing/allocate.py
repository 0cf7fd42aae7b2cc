"""Site load balancing: share the site's capacity between connectors. Pure: time is an argument.

``allocate()`` turns the site's limit tree, the latest grid reading and every connector's demand
into an offered current per connector, each with the reason that bounds it:

1. fixed loads: the building (grid meter minus our own measured current; the worst case when the
   reading is stale or missing) and every charger that does not answer (assumed at its maximum);
2. admission (``order``): priority classes first, then running sessions before waiting
   ones, rotated at an interval; an admitted connector's minimum must fit every limit;
3. water-filling per priority class over the limit tree (``classes``,
   ``fill``); both steps are skipped where no limit can bind (``outlook``);
4. rounding down, hysteresis; increases only from the room that EVs still following a lower
   offer leave (``settle``); an independent final check that no limit is exceeded.

It runs on every decision for up to a thousand connectors, so the working values are columns
indexed by connector (``Columns``), and every sum is taken in the same order as the plain
formulation kept in tests/unit/domain/balancing/reference: the result is the same to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edge_controller.domain.balancing.budget import building_load, fixed_budget
from edge_controller.domain.balancing.classes import admit_and_fill
from edge_controller.domain.balancing.fill import Columns
from edge_controller.domain.balancing.order import Candidate, Rules, scan
from edge_controller.domain.balancing.settle import fit_increases, hold_starts
from edge_controller.domain.balancing.tree import INF, Budget, tree_of
from edge_controller.domain.balancing.types import (
    EPS_A,
    Allocation,
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    GridReading,
    Policy,
    Site,
)

OfferOrder = tuple[list[int], list[int], list[Candidate]]
"""The others, the rejected and the admitted: in the order their offers were decided."""
_UNAVAILABLE = DemandState.UNAVAILABLE
_WANTING = (DemandState.WAITING, DemandState.CHARGING, DemandState.PAUSED)


DEFAULT_POLICY = Policy()
# Admission and water-filling let a constraint end at -EPS_A; the recount sums in another order,
# so it may land an ulp beyond that. Rounding is not excess: the check allows a little more.
OVER_A = 1.1 * EPS_A


def allocate(
    site: Site,
    demands: Sequence[ConnectorDemand],
    *,
    grid: GridReading | None,
    previous: Allocation | None,
    now_s: float,
    policy: Policy = DEFAULT_POLICY,
) -> Allocation:
    """Decide every connector's offered current. Deterministic for equal inputs."""
    stale = grid is None or now_s - grid.at_s > policy.stale_after_s
    building = building_load(grid, demands, stale, policy)
    tree = tree_of(site)
    rules = Rules.make(policy, now_s=now_s, stale=stale)
    prev = previous.connectors if previous is not None else {}
    cols = Columns.blank(len(demands))
    cands, others = scan(tree, demands, prev, rules, cols)
    silent = [(cols.paths[i], demands[i]) for i in others if demands[i].state is _UNAVAILABLE]
    fixed = fixed_budget(tree, site, building, silent)
    cands = hold_starts(tree, fixed, demands, cols, cands, now_s=now_s)
    admitted, rejected, offered = admit_and_fill(tree, fixed, cands, cols, policy)
    decided = (others, rejected, admitted)  # the order of decisions
    final = fixed.copy()
    if fit_increases(tree, fixed, demands, cols, admitted, now_s=now_s, policy=policy):
        final = _recount(fixed, cols, decided)
    else:  # the offers are as counted while they were decided
        final.take_tally(offered)
    notes, final = _enforce(demands, fixed, cols, admitted, decided=decided, final=final)
    if stale:
        notes.append("grid meter stale")
    return Allocation(
        at_s=now_s,
        connectors=_records(demands, cols, now_s, policy.decrease_settle_s + policy.signal_delay_s),
        building_load_a=building,
        headroom_a=(final.left[0][0], final.left[0][1], final.left[0][2]),
        grid_stale=stale,
        notes=tuple(notes),
    )


def _enforce(
    demands: Sequence[ConnectorDemand],
    fixed: Budget,
    cols: Columns,
    admitted: list[Candidate],
    *,
    decided: OfferOrder,
    final: Budget,
) -> tuple[list[str], Budget]:
    """Check every limit against the recount ``final``; pause the last admitted until all hold.
    Never expected to act — it guards the site against a flaw in the steps above."""
    notes: list[str] = []
    for _, index, _ in reversed(admitted):
        if not _over(fixed, final):
            break
        if cols.offer_a[index] > 0:
            cols.offer_a[index], cols.reason[index] = 0.0, "paused: safety check"
            notes.append(f"safety check paused {demands[index].connector_id}")
            final = _recount(fixed, cols, decided)
    return notes, final


def _recount(fixed: Budget, cols: Columns, order: OfferOrder) -> Budget:
    """The fixed loads plus every offer, counted afresh in the order the offers were decided."""
    final = fixed.copy()
    others, rejected, admitted = order
    decided = others + rejected + [index for _, index, _ in admitted]
    offers = cols.offer_a
    final.take_each(
        zip(decided, [offers[i] for i in decided], strict=True), cols.paths, cols.phases
    )
    return final


def _over(fixed: Budget, final: Budget) -> bool:
    """True if our offers push any constraint past its limit (the building alone may be over)."""
    least_a = -OVER_A
    for fixed_row, final_row in zip(fixed.left, final.left, strict=True):
        low, middle, high = final_row
        if not (low < least_a or middle < least_a or high < least_a):
            continue  # the usual case, in one test per node
        for before, after in zip(fixed_row, final_row, strict=True):
            if after < least_a and after < before - EPS_A:
                return True
    return final.power_left_a < -OVER_A and final.power_left_a < fixed.power_left_a - EPS_A


def _records(
    demands: Sequence[ConnectorDemand], cols: Columns, now_s: float, settle_s: float
) -> dict[str, ConnectorAllocation]:
    """Each connector's record; one equal in every field to the previous is that same record
    (in a steady state most are, and a thousand new ones would cost more than comparing)."""
    records: dict[str, ConnectorAllocation] = {}
    for demand, current, before, reason in zip(
        demands, cols.offer_a, cols.before, cols.reason, strict=True
    ):
        cid = demand.connector_id
        if before is not None:
            # Unchanged offer and reason: changed_at/increased_at stay, assumed is the offer.
            if (
                before[1] == current == before[5]
                and before[2] == reason
                and before[0] == cid
                and (current or _same_zeros(current, before))
                and demand.state is not _UNAVAILABLE
            ):
                records[cid] = before
                continue
            _, prev_a, _, changed, increased, _, settling_a, settled_s = before
        else:
            prev_a, changed, increased, settling_a, settled_s = 0.0, -INF, -INF, 0.0, -INF
        if current > prev_a:
            increased = now_s
        elif current < prev_a - EPS_A and demand.state in _WANTING:
            # Its EV may draw the higher offer until it has followed (and one still followed).
            settling_a = max(prev_a, settling_a if now_s < settled_s else 0.0)
            settled_s = now_s + settle_s
        assumed = current
        if demand.state is _UNAVAILABLE:  # not paused by us: no minimum pause when it answers
            changed, assumed = -INF, demand.max_current_a
        elif (prev_a > 0) != (current > 0):
            changed = now_s
        records[cid] = ConnectorAllocation(
            cid, current, reason, changed, increased, assumed, settling_a, settled_s
        )
    return records


def _same_zeros(current: float, before: ConnectorAllocation) -> bool:
    """0.0 == -0.0, but they are not the same value: a zero offer keeps its record only if its
    sign is the record's."""
    sign = math.copysign(1.0, current)
    return sign == math.copysign(1.0, before[1]) == math.copysign(1.0, before[5])
