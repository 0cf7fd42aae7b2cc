"""Site load balancing: share the site's capacity between connectors. Pure: time is an argument.

``allocate()`` turns the site's limit tree, the latest grid reading and every connector's demand
into an offered current per connector, each with the reason that bounds it:

1. each connector's own cap and its place in the admission order (``offers``);
2. fixed loads (``budget``): the building (grid meter minus our own measured current; the worst
   case when the reading is stale or missing), every charger that does not answer (assumed
   at its maximum) and what an EV draws over the most it may draw (``take_overdraw``);
3. starts held while lowered EVs still follow their lower offer, their minimums kept free
   (``settle.hold_starts``);
4. admission of the minimums, then water-filling per priority class over the limit tree, each
   offer rounded down, small increases held (``share``, ``fill``);
5. increases only from the room that EVs still following a lower offer leave
   (``settle.fit_increases``); no second lowering of an EV still following one where its offer
   fits (``settle.keep_following``); no offer kept for a paused EV, a start or a raise not yet
   drawn, nor lowered for an EV resuming (or kept for it in a step that lowers another), beyond
   what fits beside the lowered EVs' higher draw (``settle.fit_idle_offers``); an independent
   final check that no limit is exceeded.

A connector's reason says why that connector has its offer (its cap, the constraint that binds
it, its own hold); what holds for the whole site (a stale grid meter, increases and starts held
while lowered EVs follow: "settling after a decrease") is in the allocation's ``notes``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edge_controller.domain.balancing.budget import building_load, fixed_budget, take_overdraw
from edge_controller.domain.balancing.offers import (
    HYSTERESIS,
    SETTLING,
    Decision,
    Offer,
    OfferRecords,
    Rules,
    decide_caps,
)
from edge_controller.domain.balancing.settle import (
    WITHDRAWN,
    Risen,
    fit_idle_offers,
    fit_increases,
    following_offers,
    hold_starts,
    keep_following,
)
from edge_controller.domain.balancing.share import share
from edge_controller.domain.balancing.tree import INF, Budget, Tally, tree_of
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
from edge_controller.domain.model import Phases3

DEFAULT_POLICY = Policy()
# Admission and water-filling let a constraint end at -EPS_A; the recount sums in another order,
# so it may land an ulp beyond that. Rounding is not excess: the check allows a little more.
OVER_A = 1.1 * EPS_A
_UNAVAILABLE = DemandState.UNAVAILABLE
_WANTING = (DemandState.WAITING, DemandState.CHARGING, DemandState.PAUSED)


def allocate(
    site: Site,
    demands: Sequence[ConnectorDemand],
    *,
    grid: GridReading | None,
    previous: Allocation | None,
    now_s: float,
    policy: Policy = DEFAULT_POLICY,
    records: OfferRecords | None = None,
) -> Allocation:
    """Decide every connector's offered current. Deterministic for equal inputs. ``records``:
    the working offer records of a caller that decides again and again, reused (see
    ``OfferRecords``); the result is the same with or without them."""
    stale = grid is None or now_s - grid.at_s > policy.stale_after_s
    building = building_load(grid, demands, stale, policy)
    tree = tree_of(site)
    rules = Rules.make(policy, now_s=now_s, stale=stale)
    prior = previous.connectors if previous else {}
    records = OfferRecords() if records is None else records
    decision = decide_caps(tree, demands, prior, rules, records)
    fixed = fixed_budget(tree, site, building, decision.silent)
    # A stale reading's building holds our whole draw already; without any reading the
    # building is the assumed one, ours not in it.
    overdrawn = (
        []
        if stale and grid is not None
        else take_overdraw(fixed, decision.all, now_s, grid_read=not stale)
    )
    held = hold_starts(tree, fixed, decision)
    following = following_offers(decision)
    shared = share(tree, fixed, decision.contenders, policy, now_s)
    admitted = shared.admitted
    cut = fit_increases(tree, fixed, decision, admitted, policy)
    kept = keep_following(tree, fixed, admitted, following, decision.reserved)
    risen = _risen(building, stale, previous)
    idle = fit_idle_offers(tree, fixed, decision, admitted, policy, risen=risen)
    read_a = None if stale else building
    final, notes = _enforce(fixed, admitted, None if cut or kept or idle else shared.offered)
    if stale:
        notes.append("grid meter stale")
    notes.extend(overdrawn)
    if held or cut:  # the site's state: the connectors' reasons name their constraints
        notes.append(SETTLING)
    return Allocation(
        at_s=now_s,
        connectors=_records(decision, policy.decrease_settle_s + policy.signal_delay_s, read_a),
        building_load_a=building,
        headroom_a=(final.left[0][0], final.left[0][1], final.left[0][2]),
        grid_stale=stale,
        notes=tuple(notes),
        building_at_s=-INF if grid is None or stale else grid.at_s,
    )


def _risen(building: Phases3, stale: bool, previous: Allocation | None) -> Risen | None:
    """The building as read now beside the previous allocation's reading of it (left out
    where stale or missing); None where this reading is stale."""
    if stale:
        return None
    if previous is None or previous.grid_stale or previous.building_at_s == -INF:
        return Risen(building)
    return Risen(building, previous.building_at_s, previous.building_load_a)


def _enforce(
    fixed: Budget, admitted: list[Offer], offered: Tally | None
) -> tuple[Budget, list[str]]:
    """Recount every limit with the offers (``offered``: their count, if none changed since);
    pause the last admitted until all hold. Never expected to act — it guards the site against
    a flaw in the steps above. Returns the recount and what it did."""
    final = fixed.copy()
    final.take_tally(offered if offered is not None else Tally.of_offers(fixed.tree, admitted))
    notes: list[str] = []
    for offer in reversed(admitted):
        if not _over(fixed, final):
            break
        if offer.current_a > 0:
            offer.current_a, offer.reason = 0.0, "paused: safety check"
            notes.append(f"safety check paused {offer.demand.connector_id}")
            final = fixed.copy()
            final.take_tally(Tally.of_offers(fixed.tree, admitted))
    return final, notes


def _over(fixed: Budget, final: Budget) -> bool:
    """True if our offers push any constraint past its limit (the building alone may be over)."""
    for fixed_row, final_row in zip(fixed.left, final.left, strict=True):
        if min(final_row) >= -OVER_A:
            continue  # the usual case, in one test per node
        for before, after in zip(fixed_row, final_row, strict=True):
            if after < -OVER_A and after < before - EPS_A:
                return True
    return final.power_left_a < -OVER_A and final.power_left_a < fixed.power_left_a - EPS_A


def _records(
    decision: Decision, settle_s: float, read_a: Phases3 | None
) -> dict[str, ConnectorAllocation]:
    """Each connector's record; one equal in every field to the previous is that same record
    (in a steady state most are, and a thousand new ones would cost more than comparing): the
    same offer and reason (changed_at/increased_at stay, assumed is the offer), a zero offer
    only with the same sign (0.0 == -0.0, but they are not the same value). A connector held
    at its offer by the hysteresis keeps saying so while that offer stays, under the same
    constraint, though the share falls back to that offer exactly: its reason stays put rather
    than go on and off as the share moves by a step of the resolution at each reading."""
    records: dict[str, ConnectorAllocation] = {}
    now_s = decision.now_s
    for offer in decision.all:
        before, current_a, cid = offer.before, offer.current_a, offer.demand.connector_id
        if (
            before is not None
            and before.current_a == current_a == before.assumed_current_a
            and (before.reason == offer.reason or _still_held(before.reason, offer.reason))
            and before.connector_id == cid
            and (current_a != 0 or _same_zeros(current_a, before))
            and offer.demand.state is not _UNAVAILABLE
        ):
            held_s, least_a = offer.held_since_s, offer.held_least_a
            if before.held_since_s == held_s and before.held_least_a == least_a:
                records[cid] = before
            else:  # the same offer and words, held since another time or at another share
                records[cid] = before._replace(held_since_s=held_s, held_least_a=least_a)
        else:
            records[cid] = _record(offer, now_s, settle_s, read_a)
    return records


def _still_held(before: str, reason: str) -> bool:
    """True if ``before`` is ``reason`` with the hysteresis's hold (of the same offer: the
    caller compares the offers)."""
    return before.startswith(reason) and before.startswith(HYSTERESIS, len(reason))


def _record(
    offer: Offer, now_s: float, settle_s: float, read_a: Phases3 | None
) -> ConnectorAllocation:
    """``read_a``: the building load as read for this step (None: stale)."""
    before, current_a, demand = offer.before, offer.current_a, offer.demand
    raised_on_a: Phases3 | None = None
    if before is None:
        prev_a, changed_s, increased_s, settling_a, settled_s = 0.0, -INF, -INF, 0.0, -INF
    else:
        prev_a, changed_s = before.current_a, before.changed_at_s
        increased_s, settling_a, settled_s = (
            before.increased_at_s,
            before.settling_from_a,
            before.settled_at_s,
        )
        raised_on_a = before.raised_on_a
    if current_a > prev_a:
        increased_s, raised_on_a = now_s, read_a
    elif current_a < prev_a - EPS_A and demand.state in _WANTING:
        # Its EV may draw the higher offer until it has followed (and one still followed).
        settling_a = max(prev_a, settling_a if now_s < settled_s else 0.0)
        settled_s = now_s + settle_s
    assumed_a = current_a
    if demand.state is _UNAVAILABLE:  # not paused by us: no minimum pause when it answers
        changed_s, assumed_a = -INF, demand.max_current_a
    elif (prev_a > 0) != (current_a > 0) and offer.hold is not WITHDRAWN:
        changed_s = now_s
    held_s, least_a = INF, 0.0
    if current_a == prev_a:  # a hold ends with any change, one after the hysteresis too
        held_s, least_a = offer.held_since_s, offer.held_least_a
    return ConnectorAllocation(
        demand.connector_id,
        current_a,
        offer.reason,
        changed_at_s=changed_s,
        increased_at_s=increased_s,
        assumed_current_a=assumed_a,
        settling_from_a=settling_a,
        settled_at_s=settled_s,
        held_since_s=held_s,
        held_least_a=least_a,
        raised_on_a=raised_on_a,
    )


def _same_zeros(current_a: float, before: ConnectorAllocation) -> bool:
    sign = math.copysign(1.0, current_a)
    return (
        sign == math.copysign(1.0, before.current_a) == math.copysign(1.0, before.assumed_current_a)
    )
