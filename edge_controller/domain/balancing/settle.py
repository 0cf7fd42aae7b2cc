"""Increases while lowered EVs still follow their lower offer.

An EV has ``Policy.decrease_settle_s`` (5 s in IEC 61851-1) to follow a lower offer; until then
it may still draw the offer it was lowered from. Decreases apply at once. An increase (a start
too) is granted only from the room left with every connector counted at the higher of its offer
and what it may still draw, in admission order; where that room runs out, the increase is cut
and its reason names the constraint that lacked the room ("feeder carport L1 32 A"), as it
would once the EVs have followed: the settling is the site's state, not the connector's, and
the allocation notes it (``SETTLING``) while it holds an increase or a start back. A reason
that went on and off with every lowering elsewhere would change a thousand connectors' state
at each of them. A connector lowered in this very step
counts at its previous offer, so old and new offers never add up on a constraint. A lowered
connector itself gets no increase until its EV has had the time to follow: each change of the
offer gives the EV that time again (IEC 61851-1), so raising it meanwhile, even below what it
may draw, would let it hold its higher draw longer.

Only the constraints that lowered EVs load are held back: a connector on an unrelated feeder
goes up at once.

A start held while lowered EVs follow keeps its minimum free on its way to the grid, where
every minimum before it in admission order fits too: no other connector there rises meanwhile.
The sharing lowers others to make room for a paused EV's minimum, which holds its start while
they follow; had the EVs not lowered risen into that room, the start would need others lowered
again once they had followed, and wait again, without end. Increases are granted to starts
first: every EV its minimum before anyone more.

For the same reason a connector still following a lowering is not lowered again where its offer
still fits beside the others: the sharing may lower it to make room for an increase that the
settling then cuts, and that second change would give its EV another response delay to go on
drawing the first, higher offer.

Nor is an offer kept for an EV that draws nothing and does not ask for current though it had
the time to ramp (it paused itself) where it fits only once the lowered EVs have followed
(``fit_idle_offers``): it may resume at once, and a fast EV is up before a slow one is down (a
paused EV kept 6.6 A beside one lowered from 10.4 A, 5 s to follow, and resumed 2 s later:
17 A of ours on a phase with 13.3 A left). It gets what fits beside them, or waits as a start
held back would: taking an offer its EV draws nothing of switches no load off, so no minimum
pause follows. The same holds for an EV raised lately that has not ramped to its offer yet (a
start reading nothing, or a raise not drawn yet): a building rise lowered a 5 s EV from 32 A
while a 1 s EV kept the 8 A it had just started on beside it (40 A of ours on a phase with
15.4 A left). An EV already drawing loses only what it has not ramped to. A start read too
early to show its ramp may be drawing already, and the grid reading counts that as the
building's: its own offer is room it may take, unless its EV paused itself (read once the
raise had reached it, at nothing; not asking for current once its offer had switched on, or
at nothing while asking after it drew on it, a raise since or not), and where the building
looks to have risen more on another of its phases than on its first (where every EV draws)
since a reading from before the raise, no more than that first phase's rise: the rest is no
ramp of its (a start in state B kept 6.2 A as its ramp where the building had stepped from L1
onto L2, and ramped beside EVs still following a lowering). Without that, a start
read late looked like building load beside itself and was withdrawn, and the next one too,
until every EV of a site waited. (An EV seen paused
on 9.3 A and raised to 16 A, read again only before the raise reached it, was taken for such a
start and kept 6.7 A beside an EV still drawing the 18.7 A it had been lowered from, in
state B or, asking, in state C.) So is an offer lowered in this very step for an EV that asks
for current and reads nothing though its offer was not raised lately (resuming, or slow to
start), and it counts at its earlier offer beside the others so fitted: its ramp may be under
way, to that offer until the lower one reaches it (two EVs resuming on 24 and 16 A as the
building rose on their phase were lowered to 12.5 A each; the faster followed while the slower
still ramped to 24 A: 36.5 A of ours where 25 A was left). So is an offer kept for such an
EV in a step that lowers another: it may ramp to it before the other has followed (an EV
resuming on 8 A beside one lowered from 20 A for a building rise put 42 A on a phase of 32 A).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from edge_controller.domain.balancing.offers import SETTLING, Decision, Offer, full
from edge_controller.domain.balancing.tree import INF, Budget, Tally, Tree
from edge_controller.domain.balancing.types import (
    EPS_A,
    ConnectorAllocation,
    DemandState,
    Policy,
)
from edge_controller.domain.model import Phases3

_WANTING = (DemandState.WAITING, DemandState.CHARGING, DemandState.PAUSED)
_NOT_ASKING = DemandState.WAITING
_ASKING = DemandState.CHARGING
# An EV raised lately that has not ramped yet: not asking for current yet, or asking.
_RAMP_PENDING = (DemandState.WAITING, DemandState.CHARGING)


def hold_starts(tree: Tree, fixed: Budget, decision: Decision) -> bool:
    """Hold each start whose minimum does not fit beside what every connector may draw now
    (its offer, or more while its EV follows a lowering); True if any was held. Admitted, it
    would only share the room and be cut (and a lowered EV lowered again would follow later
    still). Its reason is the admission's for a minimum that does not fit."""
    if not decision.settling:  # the usual case: nobody follows a lowering
        return False
    following = [offer.may_draw(decision.now_s) for offer in decision.all]
    if not any(following):
        return False
    held = False
    drawing = [
        (offer, max(offer.before_a, following_a))
        for offer, following_a in zip(decision.all, following, strict=True)
        if offer.demand.state in _WANTING
    ]
    budget = fixed.copy()
    budget.take_tally(Tally.of(tree, [o for o, _ in drawing], [a for _, a in drawing]))
    minimums: Budget | None = None  # every minimum before a held start's, once one is held
    contenders = decision.contenders
    for number, offer in enumerate(contenders):
        if offer.hold is None and offer.before_a <= 0:
            room_a, label = _room(tree, budget, offer)
            if room_a < offer.floor_a - EPS_A:
                offer.hold, held = full(label), True
                if minimums is None:
                    minimums = fixed.copy()
                    ahead = [o for o in contenders[:number] if _may_start(o)]
                    minimums.take_tally(Tally.of(tree, ahead, [o.floor_a for o in ahead]))
                if _room(tree, minimums, offer)[0] >= offer.floor_a - EPS_A:
                    _reserve(offer, minimums, budget, decision)
                continue
        if minimums is not None and _may_start(offer):
            minimums.take(offer.path, offer.phases, offer.floor_a)
    return held


def _may_start(offer: Offer) -> bool:
    return offer.hold is None and offer.ceiling_a >= offer.floor_a - EPS_A


def _reserve(offer: Offer, minimums: Budget, budget: Budget, decision: Decision) -> None:
    """Keep a held start's minimum free on its way to the grid, where every minimum before it
    fits too: no other connector on that way rises meanwhile. Increases into the room it waits
    for would need them lowered again once the EVs lowered for it have followed, and hold the
    start once more, without end; every EV gets its minimum before anyone gets more."""
    minimums.take(offer.path, offer.phases, offer.floor_a)
    budget.take(offer.path, offer.phases, offer.floor_a)
    decision.reserved.append(offer)


def fit_increases(
    tree: Tree, fixed: Budget, decision: Decision, admitted: list[Offer], policy: Policy
) -> bool:
    """Cut the increases to the room the lowered EVs leave; True if any was cut. A start cut
    this way has shared the room with the others (they may have been lowered for it): that is
    how a paused EV takes its turn, once the lowered ones have followed."""
    rises = [offer for offer in admitted if offer.current_a > offer.before_a + EPS_A]
    if not rises:
        return False
    now_s = decision.now_s
    following = [_still_drawn(offer, now_s) for offer in decision.all]
    if not any(following):
        return False
    rising = {id(offer) for offer in rises}
    counted = [
        max(offer.before_a if id(offer) in rising else offer.current_a, following_a)
        for offer, following_a in zip(decision.all, following, strict=True)
    ]
    budget = fixed.copy()
    budget.take_tally(Tally.of(tree, decision.all, counted))
    for held in decision.reserved:
        budget.take(held.path, held.phases, held.floor_a)
    # Every EV its minimum before anyone more: starts first, then the others in admission order.
    rises.sort(key=_running)
    cut = False
    for offer in rises:  # (a rising EV follows no lowering of this step)
        cut = _grant(tree, budget, offer, offer.may_draw(now_s), policy) or cut
    return cut


def following_offers(decision: Decision) -> dict[str, float]:
    """Each contender whose EV still follows a lowering, with the offer it may keep: its
    previous one, unless its own cap fell below that (taken before the sharing lowers caps)."""
    if not decision.settling:
        return {}
    now_s = decision.now_s
    return {
        offer.demand.connector_id: min(offer.before_a, offer.ceiling_a)
        for offer in decision.contenders
        if offer.before_a > 0 and offer.may_draw(now_s) > 0
    }


def keep_following(
    tree: Tree,
    fixed: Budget,
    admitted: list[Offer],
    following: dict[str, float],
    reserved: list[Offer],
) -> bool:
    """Give back the offer it may keep to each connector lowered again while its EV still
    follows an earlier lowering, where that offer fits beside every other offer of this step
    and the minimums kept free for held starts; True if any was given back."""
    if not following:  # the usual case: no EV follows a lowering
        return False
    lowered = [
        (offer, kept_a)
        for offer in admitted
        if (kept_a := following.get(offer.demand.connector_id, 0.0)) > offer.current_a + EPS_A
        and offer.current_a > 0
    ]
    if not lowered:
        return False
    budget = fixed.copy()
    budget.take_tally(Tally.of_offers(tree, admitted))
    for held in reserved:
        budget.take(held.path, held.phases, held.floor_a)
    kept = False
    for offer, kept_a in lowered:
        room_a, _ = _room(tree, budget, offer)
        if room_a >= kept_a - offer.current_a - EPS_A and offer.before is not None:
            budget.take(offer.path, offer.phases, kept_a - offer.current_a)
            offer.current_a, offer.reason = kept_a, offer.before.reason
            kept = True
    return kept


# Below this on every phase an EV draws nothing (a paused EV may read a little standby current).
IDLE_A = 1.0
WITHDRAWN = "withdrawn while its EV draws nothing"
"""The hold of an offer taken from an EV that paused itself: no switch (see ``allocate``)."""


def fit_idle_offers(
    tree: Tree,
    fixed: Budget,
    decision: Decision,
    admitted: list[Offer],
    policy: Policy,
    *,
    risen: Risen | None = None,
) -> bool:
    """Fit each offer kept for an EV that draws nothing (``_idle``) or has not ramped to a raise
    yet (``_ramping``) beside every other connector at the higher of its offer and what its EV
    may still draw from a higher one, in admission order; cut to what fits, withdrawn where that
    is below its minimum (an EV drawing keeps what it draws). One that asks for current and is
    lowered in this very step counts at its earlier offer (``_earlier_a``) beside those fitted
    before it too, and a start's beside every other offer lowered in it (``_fit_beside_ramps``).
    ``risen``: the building as read now and before (``_own_ramp_a``). True if any was cut.
    Only while an EV follows a lowering (otherwise it costs a scan of the offers)."""
    now_s = decision.now_s
    ramped_s = now_s - policy.decrease_settle_s - policy.signal_delay_s
    lowering = any(_lowered(offer) for offer in decision.all)
    idle = [
        offer
        for offer in admitted
        if _idle(offer, now_s, ramped_s, lowering) or _ramping(offer, now_s, ramped_s)
    ]
    if not idle:
        return False
    following = [_still_drawn(offer, now_s) for offer in decision.all]
    if not any(following):
        return False
    ids = {id(offer) for offer in idle}
    counted = [
        _earlier_a(offer, ramped_s) if id(offer) in ids else max(offer.current_a, following_a)
        for offer, following_a in zip(decision.all, following, strict=True)
    ]
    budget = fixed.copy()
    budget.take_tally(Tally.of(tree, decision.all, counted))
    for held in decision.reserved:
        budget.take(held.path, held.phases, held.floor_a)
    cut, ramps_a = False, 0.0
    for offer in idle:
        earlier_a = _earlier_a(offer, ramped_s)
        room_a, label = _room(tree, budget, offer)
        room_a += earlier_a + _own_ramp_a(offer, ramped_s, risen)
        if room_a < offer.current_a - EPS_A:
            step_a = policy.resolution_a
            fitted_a = round(math.floor(max(room_a, 0.0) / step_a + EPS_A) * step_a, 6)
            drawn_a = _drawn_a(offer, step_a)
            if drawn_a > 0:  # no load is switched off: it loses what it has not ramped to
                offer.current_a, offer.reason = max(fitted_a, drawn_a), label
            elif fitted_a < offer.floor_a - EPS_A:
                # No load is switched off: it waits as a start held back would, no minimum pause.
                offer.current_a, offer.reason = 0.0, full(label)
                offer.hold = WITHDRAWN
            else:
                offer.current_a, offer.reason = fitted_a, label
            cut = True
        budget.take(offer.path, offer.phases, max(0.0, offer.current_a - earlier_a))
        if _ramping(offer, now_s, ramped_s):  # a start's earlier offer: see _fit_beside_ramps
            ramps_a += earlier_a
    if ramps_a > 0:
        lowered = [
            (offer, counted_a)
            for offer, counted_a in zip(decision.all, counted, strict=True)
            if id(offer) not in ids and 0 < offer.current_a < offer.before_a - EPS_A
        ]
        cut = _fit_beside_ramps(tree, budget, lowered, policy) or cut
    return cut


def _fit_beside_ramps(
    tree: Tree, budget: Budget, lowered: list[tuple[Offer, float]], policy: Policy
) -> bool:
    """Cut each other offer lowered in this very step (``lowered``, each with what ``budget``
    counts it at) to what fits beside the earlier offers of the starts fitted as drawing nothing
    (``_ramping``, their EVs paused themselves: ``_earlier_a``) and every other connector as
    counted; paused where that is below its minimum, though its EV draws. It may follow at once
    while theirs ramp to their earlier offer first:
    two EVs starting on 24 and 16 A were lowered to 9 and 12.5 A as the building rose on their
    phase, and the slower ramped to 24 A once the faster, drawing, had followed (36.5 A of ours
    where 25 A was left). True if any was cut."""
    cut = False
    for offer, counted_a in lowered:
        room_a, label = _room(tree, budget, offer)
        room_a += counted_a
        if room_a >= offer.current_a - EPS_A:
            continue
        step_a = policy.resolution_a
        fitted_a = round(math.floor(max(room_a, 0.0) / step_a + EPS_A) * step_a, 6)
        if fitted_a < offer.floor_a - EPS_A:
            offer.current_a, offer.reason = 0.0, full(label)
        else:
            offer.current_a, offer.reason = fitted_a, label
        cut = True
    return cut


def _idle(offer: Offer, now_s: float, ramped_s: float, lowering: bool = False) -> bool:
    """Whether the offer is kept (or lowered) for an EV that does not ask for current (state B),
    or asks and stopped drawing on its offer (``ConnectorDemand.paused_itself``), or is lowered
    in this very step for one that asks (resuming, or slow to start), or kept for one that asks
    in a step that lowers another (``lowering``), and reads no draw on any phase though its
    offer was last raised before ``ramped_s``: it paused itself and adds its whole offer when
    it resumes (it may have resumed since it was read: counted at its offer, that is room it
    takes anyway). Not one that follows a lowering: it is counted at what it may draw, and
    lowering it again would give it more time to draw that. Without a reading nothing is
    known: not idle. (An EV resuming from state B on the 8 A it kept while a building rise
    lowered a slower one from 20 A ramped before that one followed: 8 A of ours over 32 A for
    each second the other was slower.) Not kept for one that asks in the steps after: it was
    fitted in the step that lowered the other, or did not ask then and was fitted as such."""
    demand, before = offer.demand, offer.before
    draw = demand.measured_current_a
    return (
        (
            demand.state is _NOT_ASKING
            or demand.paused_itself
            or (demand.state is _ASKING and (lowering or _lowered(offer)))
        )
        and 0 < offer.current_a <= offer.before_a + EPS_A
        and before is not None
        and before.increased_at_s < ramped_s
        and draw is not None
        and max(draw) < IDLE_A
        and not offer.may_draw(now_s)
    )


def _lowered(offer: Offer) -> bool:
    """Whether the offer is lowered in this very step for an EV that wants current."""
    return offer.current_a < offer.before_a - EPS_A and offer.demand.state in _WANTING


def _earlier_a(offer: Offer, ramped_s: float) -> float:
    """What an EV fitted as one that draws nothing (``_idle``) may still ramp to from its
    earlier offer: that offer where it asks for current (state C) and is lowered in this very
    step (its ramp may be under way, to that offer until the lower one reaches it; two EVs
    resuming on 24 and 16 A as the building rose on their phase were lowered to 12.5 A each,
    and the faster one followed while the slower one still ramped to 24 A: 36.5 A of ours where
    25 A was left), else nothing: one not asking ramps, once it asks, to the offer it has by
    then, and a start raised since ``ramped_s`` may be drawing in the grid reading already
    (``_own_ramp_a``), which would count it twice, unless it is a start (switched on since
    ``ramped_s``) whose EV paused itself (read at nothing once the raise had reached it: slow
    to start, not in the grid reading)."""
    before = offer.before
    if (
        offer.demand.state is _ASKING
        and offer.current_a < offer.before_a - EPS_A
        and before is not None
        and (
            before.increased_at_s < ramped_s
            or (offer.demand.paused_itself and before.changed_at_s >= ramped_s)
        )
    ):
        return offer.before_a
    return 0.0


def _ramping(offer: Offer, now_s: float, ramped_s: float) -> bool:
    """Whether the offer is kept (or lowered) for an EV raised since ``ramped_s`` that reads
    less than it on every phase (a start reads nothing): it adds the rest when it ramps,
    whatever the EVs lowered beside it still draw. Not one that follows a lowering, nor one
    without a reading (nothing is known)."""
    draw, before = offer.demand.measured_current_a, offer.before
    return (
        offer.demand.state in _RAMP_PENDING
        and 0 < offer.current_a <= offer.before_a + EPS_A
        and before is not None
        and before.increased_at_s >= ramped_s
        and draw is not None
        and max(draw) < offer.current_a - IDLE_A
        and not offer.may_draw(now_s)
    )


def _drawn_a(offer: Offer, step_a: float) -> float:
    """What of its offer an EV draws already (its highest phase, at least its minimum, in
    steps of the resolution); 0 for one that draws nothing."""
    draw = offer.demand.measured_current_a
    if draw is None or max(draw) < IDLE_A:
        return 0.0
    drawn_a = round(math.floor(max(draw) / step_a + EPS_A) * step_a, 6)
    return min(offer.current_a, max(offer.floor_a, drawn_a))


def _own_ramp_a(offer: Offer, ramped_s: float, risen: Risen | None = None) -> float:
    """What of the room a start reading no draw may take itself in the grid reading: read too
    early to show its ramp, it may be drawing its offer already, counted as the building's
    (a lagging reading withdrew starts that drew, one after another). None once its EV paused
    itself (``ConnectorDemand.paused_itself``: read after the raise reached it, at nothing, or
    not asking for current after its offer switched on, or at nothing while asking after it
    drew on it),
    for an EV raised before ``ramped_s`` (it had the time), nor for one already drawing (the
    rest of its ramp is still to come, not in the grid reading). Where the building looks to
    have risen more on another of its phases than on its first since a reading of it taken
    before the raise (``Risen.since``: the one the raise was decided on, which a building
    stepping a reading later does not hide), no more than that first phase's rise: its ramp
    raises each phase it draws on alike, its first (where every EV draws) above all, so the
    rest is the building's. (A start read in
    state B as the building stepped from L1 onto L2 kept 6.2 A there as its own ramp, and
    ramped beside EVs still following a lowering: 21.5 A of ours where 18.7 A was left.)"""
    draw, before = offer.demand.measured_current_a, offer.before
    if offer.demand.paused_itself or draw is None or max(draw) >= IDLE_A:
        return 0.0
    if before is None or before.increased_at_s < ramped_s:
        return 0.0
    rise_a = None if risen is None else risen.since(before)
    if rise_a is not None:
        first_a = rise_a[offer.demand.wiring[0]]
        if max(rise_a[phase] for phase in offer.phases) > first_a + EPS_A:
            return min(offer.before_a, max(0.0, first_a))
    return offer.before_a


class Risen(NamedTuple):
    """The building as read now (``now_a``), and as the previous allocation read it from a
    grid reading received at ``then_s`` (``then_a``; None: stale or none)."""

    now_a: Phases3
    then_s: float = INF
    then_a: Phases3 | None = None

    def since(self, before: ConnectorAllocation) -> list[float] | None:
        """How the building looks to have risen, per grid phase, since a reading of it taken
        before ``before``'s last raise: the one that raise was decided on, else the previous
        allocation's where it came before the raise (a building stepping one reading after
        the raise hid in a later reading); None without either."""
        then_a = before.raised_on_a
        if then_a is None and before.increased_at_s >= self.then_s:
            then_a = self.then_a
        if then_a is None:
            return None
        return [now - then for now, then in zip(self.now_a, then_a, strict=True)]


def _running(offer: Offer) -> bool:
    return offer.before_a > 0


def _still_drawn(offer: Offer, now_s: float) -> float:
    """What its EV may still draw, a lowering in this very step counted too."""
    if offer.before is None or offer.demand.state not in _WANTING:
        return 0.0
    drawn_a = offer.may_draw(now_s)
    if offer.current_a < offer.before_a - EPS_A:
        drawn_a = max(drawn_a, offer.before_a)
    return drawn_a


def _grant(tree: Tree, budget: Budget, offer: Offer, following_a: float, policy: Policy) -> bool:
    """Grant one connector's increase from ``budget`` as far as it fits; True if cut."""
    wanted_a, before_a = offer.current_a, offer.before_a
    if following_a > 0:  # lowered and not yet followed: another change would give it more time
        offer.current_a, offer.reason = before_a, f"{offer.reason}; {SETTLING}"
        return True
    room_a, label = _room(tree, budget, offer)
    if room_a >= wanted_a - before_a - EPS_A:
        budget.take(offer.path, offer.phases, wanted_a - before_a)
        return False
    step_a = policy.resolution_a
    granted_a = round(math.floor((before_a + max(room_a, 0.0)) / step_a + EPS_A) * step_a, 6)
    if granted_a < offer.floor_a - EPS_A or (
        before_a > 0 and granted_a < before_a + policy.min_increase_a
    ):
        granted_a = before_a  # no start below the minimum; no step below the hysteresis
    if granted_a > before_a:
        budget.take(offer.path, offer.phases, granted_a - before_a)
    offer.current_a = granted_a
    offer.reason = label if granted_a > 0 else full(label)
    return True


def _room(tree: Tree, budget: Budget, offer: Offer) -> tuple[float, str]:
    """The least room on the connector's constraints (in path order, then phase order) and the
    label of the first constraint with that room."""
    room_a, label = INF, ""
    for node in offer.path:
        row = budget.left[node]
        for phase in offer.phases:
            if row[phase] < room_a:
                room_a, label = row[phase], tree.label(node, phase)
    if budget.power_left_a < INF:
        power_room_a = budget.power_left_a / len(offer.phases)
        if power_room_a < room_a:
            room_a, label = power_room_a, budget.power_label
    return room_a, label
