"""The parent's decision: every child is a feeder of the parent's limit tree, its connectors
allocated by the same ``allocate`` (fairness, priorities, phase rules) as a gateway's own; a
child's budget is what its connectors were offered, per grid phase, and never below its safe
budget.

What a child may draw is not what it was last handed: it may still run on an earlier budget
(the new one not yet received, or its EVs still following a lowering) until that lease ends,
and it falls back to its safe budget whenever a lease ends. So every budget issued is
*counted* until the child reports running on a later one plus the time its EVs take to follow,
or until its lease is over (plus the clock tolerance the child allows, twice, and that
settling time); a child is counted at least at its safe budget, always. A child that has not
reported within ``report_stale_s`` is silent: it gets no new budget (its lease runs out) and is
counted as above. Increases are then cut so that the building load plus everything counted
stays within every limit of the tree: the invariant the site's safety rests on.

The building load is the grid reading less the children's draws, and the two are measured at
different moments by different gateways. A child's EVs may pause on their own just after it
reports: taking its reported draw off a later reading would take building load for the child's.
So only what a child can at least have drawn at a reading's moment comes off it: the lowest
draw it measured over the span of a report that holds that moment (each report says the lowest
since its previous one; a child that does not, of a version before, bounds nothing). A report
is placed by its arrival less the age of its draw, but it may have been made up to
``report_delay_s`` before it arrived (a child hands its link a demand to send within
``DEMAND_SEND_WITHIN_S``, else the link drops it and the next one, made fresh, follows; the
transit is taken to stay within ``DEMAND_TRANSIT_S``): a bound is taken only at the readings
surely within its span, from its placed start to its placed end less that delay. Each span
reaches back that delay before the previous report's draw, so consecutive reports leave no
moment that neither surely covers (a report the link dropped leaves its span but that reach
covered by none: nothing of the child's draw comes off a reading there). Beyond that delay (a
broker holding a demand) a span could be placed late; the parent's service refuses for bounds a
report its child's clock says was made more than the clock tolerance and that delay before it
arrived, which catches such delays beyond twice the tolerance. That bounds the building load
from above at each reading; each reading of the building window counts once, under its own
time, worked out again at every decision. Increases are held to the highest of the window's
readings every reporting child's reports bracket (a reading after a child's last report waits
for its next one, about one report interval and the delay; without any such reading, nothing of
the others' draws comes off). The allocation, whose lowerings are what the children come down
to, takes the lowest of those bounds over two windows, never a guess below them once one is
known: a rise of the building shows in the budgets after it, even while an EV that will resume
draws nothing. Those bounds cannot tell a rise of the building from a rise of the children's
EVs that their reports show late (both are a reading over the draws reported), so on them alone
a rise within the limit waits two windows (5 s): an EV paused meanwhile that resumed put the
site 10 A over its limit for 5 s. So each report also says the highest draw over its span, and
a reading less the most every child can have drawn around it (``ParentTiming.draw_lag_s`` on
either side; a silent child at what it is counted at) is the least the building surely drew:
where that is more than the bounds leave, the allocation takes it at once (about ``draw_lag_s``
after a rise). An EV's rise never shows there (its child's highest draw takes it off); a
measured draw that trails the grid meter by more than ``draw_lag_s`` only lowers the children
needlessly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from edge_controller.domain.balancing import (
    DEFAULT_POLICY,
    EPS_A,
    Allocation,
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    Policy,
    Site,
    allocate,
)
from edge_controller.domain.balancing.caution import within_limits
from edge_controller.domain.balancing.tree import tree_of
from edge_controller.domain.gateways.lease import renewal_s
from edge_controller.domain.gateways.messages import (
    DEMAND_DELAY_S,
    BudgetMessage,
    ChildDemand,
)
from edge_controller.domain.model import Limit, Phases3

PHASES = (0, 1, 2)
_ZERO: Phases3 = (0.0, 0.0, 0.0)
_UNATTRIBUTED = (
    "no recent grid reading within the reports of every child: increases held to the readings"
    " with only the draws the reports bound taken off",
)


@dataclass(frozen=True, slots=True)
class ChildFeeder:
    """A child as the parent sees it: its feeder (per-phase limit, the feeder above it; None:
    the grid), the budget it falls back to, and the lease of its budgets; ``own_safe_a``: the
    most it falls back to if it restarts while it does not hear its parent (its own safe
    budget, where it says one above ``safe_budget_a``; None: ``safe_budget_a``);
    ``failsafe_a``: what its chargers draw per grid phase on their own fail-safe currents once
    it stops telling them (None: it did not say)."""

    child_id: str
    limit_a: float
    parent: str | None
    safe_budget_a: float
    lease_s: float
    own_safe_a: float | None = None
    failsafe_a: Phases3 | None = None

    def reserved_a(self, phase: int) -> float:
        """The least it is counted at on a grid phase, whatever it is handed: its safe budget
        within its feeder, or what its chargers draw on their fail-safe currents if more (a
        child that crashes leaves them there: 4 x 6 A on a 12 A safe budget)."""
        safe_a = min(self.safe_budget_a, self.limit_a)
        return safe_a if self.failsafe_a is None else max(safe_a, self.failsafe_a[phase])


REPORTS_KEPT = 8  # a child's recent draws, to bound its draw at a grid reading's time


@dataclass(frozen=True, slots=True)
class Measured:
    """A child's draw as one report gives it: measured at ``at_s`` (the parent's monotonic
    clock: arrival less the draw's age), per grid phase, and the lowest the child measured from
    ``since_s`` to then (None: a child that does not say)."""

    at_s: float
    draw_a: Phases3
    lowest_a: Phases3 | None
    since_s: float
    highest_a: Phases3 | None = None

    @staticmethod
    def of(demand: ChildDemand, received_s: float) -> Measured:
        at_s = received_s - demand.draw_age_s
        since_s = at_s - demand.lowest_span_s
        return Measured(at_s, demand.draw_a, demand.lowest_draw_a, since_s, demand.highest_draw_a)


@dataclass(frozen=True, slots=True)
class ChildReport:
    """A child's latest demand and when it arrived (the parent's monotonic clock), with the
    draws of its recent reports, oldest first, this one last."""

    demand: ChildDemand
    received_s: float
    draws: tuple[Measured, ...] = ()

    def then(self, demand: ChildDemand, received_s: float) -> ChildReport:
        """The report that follows this one."""
        measured = Measured.of(demand, received_s)
        return ChildReport(demand, received_s, (*self.history[1 - REPORTS_KEPT :], measured))

    @property
    def history(self) -> tuple[Measured, ...]:
        return self.draws or (Measured.of(self.demand, self.received_s),)

    def lowest_at(self, at_s: float, *, delay_s: float) -> Phases3 | None:
        """The least the child can have drawn at ``at_s``, per grid phase: the lowest it
        measured over a span of one of its reports that surely holds ``at_s`` (the highest
        such bound); None if its reports say nothing of ``at_s`` (it may have drawn nothing
        then), as always from a child that does not report its lowest (the lower of its two
        draws around ``at_s`` is no bound: its EV may have dipped between them). Only a
        lower bound may come off a grid reading: anything higher takes building load for the
        child's (6 A reported at 1 s, the EV paused at 2 s: a grid reading of 2 s less 6 A
        hid 6 A of building load). A report may have been made up to ``delay_s`` before it
        arrived (``ParentTiming``): its span, placed by its arrival, may lie that much
        earlier, so only the moments from its placed start to its placed end less
        ``delay_s`` are surely in it (b's report made at 19 s and sent at 20 s, placed at 20
        s, took b's draw off a reading of 20 s when b's EV had paused: 64 A on a 63 A grid)."""
        bounds: list[Phases3] = []
        history = self.history
        for measured in history:
            if (
                measured.lowest_a is not None
                and measured.since_s <= at_s <= measured.at_s - delay_s
            ):
                bounds.append(measured.lowest_a)
        if not bounds:
            return None
        a, b, c = (max(bound[p] for bound in bounds) for p in PHASES)
        return (a, b, c)

    def highest_around(self, at_s: float, *, lag_s: float) -> Phases3 | None:
        """The most the child can have drawn at ``at_s``, per grid phase: the highest it
        measured over the spans of its reports that cover ``lag_s`` on either side of it
        without a gap (its meters and the grid meter may show one moment that far apart; a
        late report counts in that too); None if they do not yet. An EV's rise reaches the
        grid meter before its child's report: a span that ended at ``at_s`` took 12 A for
        the most of a child whose EVs drew 24 A then, and 12 A of them for building load."""
        low_s, high_s = at_s - lag_s, at_s + lag_s
        spans = sorted(
            (
                (m.since_s, m.at_s, highest_a)
                for m in self.history
                if (highest_a := m.highest_a) is not None
                and m.at_s >= low_s
                and m.since_s <= high_s
            ),
            key=lambda span: span[0],
        )
        reach_s = low_s
        for since_s, until_s, _ in spans:
            if since_s > reach_s:
                return None  # a moment no report covers (one was dropped, or not yet made)
            reach_s = max(reach_s, until_s)
        if reach_s < high_s:
            return None
        a, b, c = (max(highest[p] for _, _, highest in spans) for p in PHASES)
        return (a, b, c)


@dataclass(frozen=True, slots=True)
class ParentTiming:
    """``settle_s``: from a child taking a lower budget to its EVs drawing no more than it;
    ``tolerance_s``: how far the gateways' wall clocks may differ (the children allow as much);
    ``building_window_s``: how far back the grid readings the building load is worked out
    from go (each under its own time): increases are held to the highest of them, the
    allocation takes the lowest of each decision's over this long; ``report_delay_s``: the
    most a child's demand takes from its making to its arrival (what the child allows its
    link to send it, ``DEMAND_SEND_WITHIN_S``, and the transit, ``DEMAND_TRANSIT_S``);
    ``draw_lag_s``: how far apart the moments a child's measured draw and a grid reading show
    may lie (each meter read about once a second, a report late), for the highest draw taken
    off a reading to tell a rise of the building: too short, it only lowers the children
    needlessly while their EVs ramp."""

    report_stale_s: float = 5.0
    settle_s: float = 7.0
    tolerance_s: float = 2.0
    building_window_s: float = 3.0
    report_delay_s: float = DEMAND_DELAY_S
    draw_lag_s: float = 2.0


@dataclass(frozen=True, slots=True)
class ParentSetup:
    site: Site  # the parent's limit tree with every child's feeder (``gateway_site``)
    children: tuple[ChildFeeder, ...]
    policy: Policy = DEFAULT_POLICY
    timing: ParentTiming = field(default_factory=ParentTiming)


@dataclass(frozen=True, slots=True)
class Issued:
    """A budget handed to a child: issued at ``issued_s`` and counted until ``counted_until_s``
    (the parent's monotonic clock)."""

    version: int
    current_a: Phases3
    issued_s: float
    counted_until_s: float


@dataclass(frozen=True, slots=True)
class Ledger:
    """One child's budgets still counted (oldest first), the latest one issued (counted or
    not), and the highest version it reported running on, since when."""

    counted: tuple[Issued, ...] = ()
    latest: Issued | None = None
    confirmed: int = -1
    confirmed_at_s: float = -math.inf
    heard: bool = False  # reported since this run of the parent started
    # What the child last said it falls back to: before it hears a parent (its own safe
    # budget), and now (None: it never said, a child of a version before).
    reported_own_a: float | None = None
    reported_fallback_a: float | None = None
    reported_failsafe_a: Phases3 | None = None  # what its chargers draw on their fail-safe


@dataclass(frozen=True, slots=True)
class Fallbacks:
    """What a child last said it falls back to: before it hears a parent (its own safe budget),
    and then (None: it did not say). Kept through a restart of the parent: a child cut off
    may restart meanwhile and fall back to its own, which a parent that forgot it would count
    at the (lower) configured safe budget once a lease of the run before is over; and what its
    chargers draw on their fail-safe currents (None: it did not say), which it may leave them at
    meanwhile."""

    own_a: float
    now_a: float | None
    failsafe_a: Phases3 | None = None


@dataclass(frozen=True, slots=True)
class ParentState:
    """``started_s``: when this run of the parent started (its monotonic clock); a child not
    heard from since may hold a budget of the run before, up to its feeder limit."""

    epoch: str
    started_s: float
    next_version: int = 1
    ledgers: Mapping[str, Ledger] = field(default_factory=dict)
    allocation: Allocation | None = None
    # Per decision of the window, the lowest building load its readings bound, and the
    # children reporting then; the lowest of the last window that had one.
    lows: tuple[tuple[float, Phases3], ...] = ()
    lows_live: frozenset[str] = frozenset()
    building_a: Phases3 | None = None


@dataclass(frozen=True, slots=True)
class ParentInputs:
    """``grids``: the recent grid readings, oldest first (``at_s`` when each arrived);
    ``grid_cap``: a cap on the grid limit in force now (the operator's, the CSMS's), if any."""

    reports: Mapping[str, ChildReport]
    grids: Sequence[GridReading]
    now_s: float  # monotonic
    wall_s: float  # stamps the issued budgets
    grid_cap: Limit | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The new state, the budgets to publish now, what each child is counted at, and what the
    parent's allocation noted (plus any limit the counted budgets alone exceed)."""

    state: ParentState
    publish: tuple[BudgetMessage, ...]
    counted_a: Mapping[str, Phases3]
    building_load_a: Phases3
    notes: tuple[str, ...]


def fallbacks(state: ParentState) -> dict[str, Fallbacks]:
    """What each child last said it falls back to, to be kept through a restart."""
    return {
        cid: Fallbacks(
            ledger.reported_own_a, ledger.reported_fallback_a, ledger.reported_failsafe_a
        )
        for cid, ledger in state.ledgers.items()
        if ledger.reported_own_a is not None
    }


def remembering(state: ParentState, kept: Mapping[str, Fallbacks]) -> ParentState:
    """A run of the parent that knows what each child said before it started: until the child
    reports again, it is counted as then (``as_counted``), never below it."""
    ledgers = dict(state.ledgers)
    for cid, said in kept.items():
        ledger = ledgers.get(cid, Ledger())
        if ledger.reported_own_a is None:
            ledgers[cid] = replace(
                ledger,
                reported_own_a=said.own_a,
                reported_fallback_a=said.now_a,
                reported_failsafe_a=said.failsafe_a,
            )
    return replace(state, ledgers=ledgers)


def gateway_site(site: Site, children: Sequence[ChildFeeder]) -> Site:
    """The parent's limit tree with a feeder per child (named after it)."""
    feeders = tuple(Feeder(c.child_id, c.limit_a, c.parent) for c in children)
    return replace(site, feeders=site.feeders + feeders)


def decide_budgets(setup: ParentSetup, state: ParentState, inputs: ParentInputs) -> Decision:
    """One decision: reports confirm budgets, the children's connectors are allocated (silent
    children counted as fixed loads) over the building load the readings bound, and each live
    child's increase is held to what fits over the highest of the window's bounds and every
    child's floor; lowerings go out at once. A cap on the grid limit binds the budgets as it
    binds the parent's own connectors."""
    capped_setup = capped(setup, inputs.grid_cap)
    under_cap = capped_setup is not setup
    now_s, timing = inputs.now_s, setup.timing
    ledgers = {
        c.child_id: _confirm(state, c, inputs.reports.get(c.child_id), now_s, timing)
        for c in setup.children
    }
    setup = as_counted(capped_setup, ledgers)
    floors = _floors(setup, state, inputs, ledgers)
    # A child heard from lately is allocated also while its EVs follow a lowering (its floor
    # counts the higher budget meanwhile): out of the allocation it would come back as new
    # connectors and take the room the other children's increases wait for.
    live = {c.child_id for c in setup.children if _reported(c, inputs, timing)}
    demands: list[ConnectorDemand] = []
    for child in setup.children:
        cid = child.child_id
        if cid in live:
            demands += _pseudo_connectors(child, inputs.reports[cid].demand)
        else:
            demands += _fixed_load(cid, floors[cid])
    window = _buildings(setup, inputs)
    lows = _lows(setup, state, inputs, window[0], frozenset(live))
    known_a = _lowest(lows) or state.building_a
    alloc = allocate(
        setup.site,
        demands,
        grid=_allocated_building(setup, inputs, known_a, _least_building(setup, inputs, floors)),
        previous=state.allocation,
        now_s=now_s,
        policy=_unheld(setup.policy),
    )
    building_a = alloc.building_load_a
    wanted: Mapping[str, Phases3] = {
        c.child_id: _wanted(c, demands, alloc, True) for c in setup.children if c.child_id in live
    }
    wanted = _within_grid(setup, floors, wanted, (demands, alloc, inputs), under_cap)
    budgets = fit(setup, _highest(setup, inputs, window), floors, wanted)
    over = over_limits(setup, building_a, floors)
    ledgers, publish, next_version = _issue(setup, state, ledgers, budgets, inputs)
    return Decision(
        state=replace(
            state,
            next_version=next_version,
            ledgers=ledgers,
            allocation=alloc,
            lows=lows,
            lows_live=frozenset(live),
            building_a=known_a,
        ),
        publish=publish,
        counted_a=_floors(setup, state, inputs, ledgers),
        building_load_a=building_a,
        notes=alloc.notes + tuple(over) + (() if window[0] or not inputs.grids else _UNATTRIBUTED),
    )


def as_counted(setup: ParentSetup, ledgers: Mapping[str, Ledger]) -> ParentSetup:
    """The setup with every child counted, once lost, at the most it says it may fall back to
    where that is above the safe budget configured for it: a child falls back to the
    configured one once it has a budget saying it, but to its own before, and again if it
    restarts while it does not hear its parent (80 A drawn while the parent counted 32 A
    overloaded the grid just when the parent was lost). Its budgets keep to the configured
    safe budget (handed its own as the least it keeps, it would run on it for a lease after
    hearing the lower one) and within its feeder's limit as configured, while its floor counts
    all of its own safe budget at the grid and the feeders above (``_floor``); raising the
    limit handed it budgets above its feeder."""
    children = []
    for child in setup.children:
        ledger = ledgers.get(child.child_id) or Ledger()
        own_a = max(
            child.safe_budget_a, ledger.reported_own_a or 0.0, ledger.reported_fallback_a or 0.0
        )
        failsafe_a = ledger.reported_failsafe_a
        if own_a == child.safe_budget_a and failsafe_a is None:
            children.append(child)
            continue
        children.append(
            replace(
                child,
                own_safe_a=None if own_a == child.safe_budget_a else own_a,
                failsafe_a=failsafe_a,
            )
        )
    if tuple(children) == setup.children:
        return setup
    return replace(setup, children=tuple(children))


def capped(setup: ParentSetup, cap: Limit | None) -> ParentSetup:
    """The setup with the grid limit in force: a cap below the configured limit (from the
    operator or the CSMS) takes its place, named after its source."""
    site = setup.site
    if cap is None or cap.current_a >= site.grid_limit_a:
        return setup
    return replace(setup, site=replace(site, grid_limit_a=cap.current_a, grid_label=cap.source))


def _within_grid(
    setup: ParentSetup,
    floors: Mapping[str, Phases3],
    wanted: Mapping[str, Phases3],
    offered: tuple[Sequence[ConnectorDemand], Allocation, ParentInputs],
    under_cap: bool,
) -> Mapping[str, Phases3]:
    """What the live children are to get under the grid limit in force (a cap's too), adding
    up within it over the allocation's building load and the silent children's floors: what
    they are handed, lowerings too, is what they are counted at once their earlier budgets
    lapse (a budget is never more than what is wanted; an increase over a child's floor is
    held to the highest building load of the window by ``fit`` as always). A child may run on
    its safe budget whenever it does not hear its parent, so where the safe budgets fit each
    child keeps its safe budget and only what its connectors were offered beyond it is cut to
    fit (a child offered less than its safe budget is handed that budget, and the others'
    offers make room for it: 16 A kept for one EV beside 32.1 A offered to three, over a 20 A
    building, added up to 68.1 A on a 63 A grid). Where they do not, each child keeps no more
    than its safe budget; only under a cap they do not fit over the building as the reports
    last had it either (the newest reading less the draws last reported, if lower), a child
    gets its connectors' offers alone, below its safe budget if need be: such a cap holds only
    while every child hears its parent. (The building load the readings bound errs high: taken
    alone to tell such a cap, it handed a child 10 A, the room its partner's 16 A safe budget
    was to leave, while that partner, cut off, ran on it: 26 A against a 20 A cap.)"""
    demands, alloc, inputs = offered
    room = [setup.site.grid_limit_a - alloc.building_load_a[p] for p in PHASES]
    least = list(room)
    if inputs.grids:
        guess_a = _newest_reading(setup, inputs).current_a
        least = [
            setup.site.grid_limit_a - min(guess_a[p], alloc.building_load_a[p]) for p in PHASES
        ]
    for child in setup.children:
        cid = child.child_id
        for p in PHASES:
            counted_a = child.reserved_a(p) if cid in wanted else floors[cid][p]
            room[p] -= counted_a
            least[p] -= counted_a
    if under_cap and any(least[p] < -EPS_A for p in PHASES):
        live = [c for c in setup.children if c.child_id in wanted]
        return {c.child_id: _wanted(c, demands, alloc, False) for c in live}
    # A child's budget within what it is counted at anyway is kept; only above it is cut.
    safes = {c.child_id: [c.reserved_a(p) for p in PHASES] for c in setup.children}
    above = {
        cid: [max(0.0, want[p] - safes[cid][p]) for p in PHASES] for cid, want in wanted.items()
    }
    for p in PHASES:
        _cut([(rise, p) for rise in above.values()], max(room[p], 0.0))
    step_a = setup.policy.resolution_a
    fitted: dict[str, Phases3] = {}
    for cid, rise in above.items():
        a, b, c = (
            min(wanted[cid][p], safes[cid][p] + _round_down(rise[p], step_a)) for p in PHASES
        )
        fitted[cid] = (a, b, c)
    return fitted


def _lows(
    setup: ParentSetup,
    state: ParentState,
    inputs: ParentInputs,
    bounded: Window,
    live: frozenset[str],
) -> Window:
    """The lowest building load of each decision of the last ``building_window_s`` (the same
    children reporting) and of this one: a rise of a child's EVs shows as building load in
    every reading its reports bracket while they follow it, so the lowest of the readings
    alone would still take it for building load once the readings from before it have left
    the window; each decision keeps the lowest of its own window a window longer."""
    since_s = inputs.now_s - setup.timing.building_window_s
    kept = tuple(item for item in state.lows if item[0] > since_s)
    lows = kept if state.lows_live == live else ()
    lowest = _lowest(bounded)
    return lows if lowest is None else (*lows, (inputs.now_s, lowest))


def _allocated_building(
    setup: ParentSetup, inputs: ParentInputs, known_a: Phases3 | None, least_a: Phases3 | None
) -> GridReading | None:
    """The building load to allocate over, never below one the readings bound once one is
    known (what it leaves the children is what they are handed, lowerings too, and what
    they are counted at once their earlier budgets lapse). While the newest grid reading is
    fresh and within the grid's limits: ``known_a`` (``_lows``), which follows a rise of the
    building only a window or two after it (a rise of the children's EVs read late looks
    the same in those bounds), unless the building surely drew more (``least_a``,
    ``_least_building``): that much is taken at once, a rise hidden by a paused EV too.
    Over a limit, or blind, nothing waits: the higher of those and the newest reading less
    what the reporting children last reported. With nothing known yet (the parent just
    started), that guess (or ``least_a`` if higher): what it leaves may be more than the
    readings would bound, but it lowers only budgets already counted, and ``fit`` holds
    every increase to the bounds."""
    if not inputs.grids:
        return None
    newest, site = inputs.grids[-1], setup.site
    guess = _newest_reading(setup, inputs).current_a
    fresh = inputs.now_s - newest.at_s <= setup.policy.stale_after_s
    if known_a is None:
        loads = [guess]
    elif fresh and within_limits(newest.current_a, site, EPS_A):
        loads = [known_a]
    else:
        loads = [known_a, guess]
    if least_a is not None:
        loads.append(least_a)
    a, b, c = (max(load[p] for load in loads) for p in PHASES)
    return GridReading((a, b, c), newest.at_s)


def _least_building(
    setup: ParentSetup, inputs: ParentInputs, floors: Mapping[str, Phases3]
) -> Phases3 | None:
    """The least the building surely drew lately: the highest, over the grid readings of
    the building window, of the reading less the most each child can have drawn then (a
    reporting child's highest measured draw around it, ``ChildReport.highest_around``; a
    silent one's floor); None where no reading has that from every reporting child yet.
    A lower bound, unlike the bounds of ``_buildings``: a rise of the children's EVs never
    shows in it (their highest draws take it off), so a rise it shows is the building's and
    lowers the children at once (the bounds alone waited two windows for it, 5 s, while a
    paused EV that resumed put the site 10 A over its limit)."""
    timing = setup.timing
    since_s = inputs.now_s - timing.building_window_s - timing.report_delay_s
    least: list[float] | None = None
    for grid in inputs.grids:
        if not since_s < grid.at_s <= inputs.now_s:
            continue
        load = list(grid.current_a)
        for child in setup.children:
            most_a: Phases3 | None = floors[child.child_id]
            if _reported(child, inputs, timing):
                report = inputs.reports[child.child_id]
                most_a = report.highest_around(grid.at_s, lag_s=timing.draw_lag_s)
            if most_a is None:
                break
            load = [load[p] - most_a[p] for p in PHASES]
        else:
            least = [max(0.0 if least is None else least[p], load[p]) for p in PHASES]
    return None if least is None else (least[0], least[1], least[2])


def _unheld(policy: Policy) -> Policy:
    """The policy for the children's connectors: one the parent pauses is not paused at its
    child (the child's safe budget still feeds it, under the child's own pause rules), so no
    minimum pause holds it back once there is room again."""
    return replace(policy, min_pause_s=0.0)


def _confirm(
    state: ParentState, child: ChildFeeder, report: ChildReport | None, now_s: float,
    timing: ParentTiming,
) -> Ledger:  # fmt: skip
    """The child's ledger with what its report confirms, budgets no longer counted dropped."""
    ledger = state.ledgers.get(child.child_id, Ledger())
    if report is not None and not ledger.heard:
        ledger = replace(ledger, heard=True)
    if report is not None and report.demand.safe_budget_a is not None:
        demand = report.demand
        ledger = replace(
            ledger, reported_own_a=demand.safe_budget_a, reported_fallback_a=demand.fallback_a
        )
    if report is not None and report.demand.failsafe_a is not None:
        ledger = replace(ledger, reported_failsafe_a=report.demand.failsafe_a)
    applied = report.demand.applied if report is not None else None
    if applied is not None and applied[0] == state.epoch and applied[1] > ledger.confirmed:
        ledger = replace(ledger, confirmed=applied[1], confirmed_at_s=now_s)
    elif report is not None and applied is not None and applied[0] != state.epoch:
        ledger = _foreign(child, ledger, report, timing)
    settled_s = ledger.confirmed_at_s + timing.settle_s
    counted = []
    for issued in ledger.counted:
        until_s = issued.counted_until_s
        if issued.version < ledger.confirmed:
            until_s = min(until_s, settled_s)
        if until_s > now_s:
            counted.append(replace(issued, counted_until_s=until_s))
    return replace(ledger, counted=tuple(counted))


def _foreign(
    child: ChildFeeder, ledger: Ledger, report: ChildReport, timing: ParentTiming
) -> Ledger:
    """A child running on a budget of an earlier run of the parent: counted at it (as a budget
    of version -1, superseded once it runs on one of ours) until its lease could be over."""
    until_s = report.received_s + _counted_s(child, timing)
    foreign = Issued(-1, report.demand.budget_a, report.received_s, until_s)
    kept = tuple(i for i in ledger.counted if i.version != -1)
    return replace(ledger, counted=(foreign, *kept))


def _unknown(
    child: ChildFeeder, setup: ParentSetup, state: ParentState, inputs: ParentInputs, heard: bool
) -> bool:
    """Not heard from since this run started, and a budget of the run before could still
    hold: the child may draw up to its feeder limit."""
    return not heard and inputs.now_s < state.started_s + _counted_s(child, setup.timing)


def _counted_s(child: ChildFeeder, timing: ParentTiming) -> float:
    """How long a budget counts from its issue: its lease, the clock tolerance on either
    side, and the time EVs take to follow what comes after it."""
    return child.lease_s + 2 * timing.tolerance_s + timing.settle_s


def _floors(
    setup: ParentSetup, state: ParentState, inputs: ParentInputs, ledgers: Mapping[str, Ledger]
) -> dict[str, Phases3]:
    """What each child is counted at, at least."""
    floors = {}
    for child in setup.children:
        if _unknown(child, setup, state, inputs, ledgers[child.child_id].heard):
            # A budget of the run before is within the feeder; its own safe budget may not be.
            most_a = max(child.limit_a, child.own_safe_a or 0.0)
            a, b, c = (max(most_a, child.reserved_a(p)) for p in PHASES)
            floors[child.child_id] = (a, b, c)
        else:
            floors[child.child_id] = _floor(child, ledgers[child.child_id])
    return floors


def _floor(child: ChildFeeder, ledger: Ledger) -> Phases3:
    """The least the child is counted at: its safe budget (its own, if higher, even above
    its feeder's limit: what it falls back to is what it draws), what its chargers draw on
    their fail-safe currents (``ChildFeeder.reserved_a``), and every budget still counted."""
    own_a = child.own_safe_a or 0.0
    a, b, c = (
        max([child.reserved_a(p), own_a, *(i.current_a[p] for i in ledger.counted)]) for p in PHASES
    )
    return (a, b, c)


Window = tuple[tuple[float, Phases3], ...]  # (when read, the most the building drew then)


def _buildings(setup: ParentSetup, inputs: ParentInputs) -> tuple[Window, Window]:
    """The most the building can have drawn at each grid reading of the last
    ``building_window_s``, oldest first (``_bound``): at those every reporting child's reports
    say something of, and at every one. Each reading counts once, under its own time, worked
    out again at every decision from what the reports say by then: a reading taken after a
    child's last measured draw has nothing of its draw taken off until its next report (its
    EVs may have paused since: 31 A taken off a reading of the building alone hid 31 A of
    it). The window reaches back the delay a report may take further: a reading is bounded
    only that much after the report that covers it arrives."""
    since_s = inputs.now_s - setup.timing.building_window_s - setup.timing.report_delay_s
    known: list[tuple[float, Phases3]] = []
    every: list[tuple[float, Phases3]] = []
    for grid in inputs.grids:
        if since_s < grid.at_s <= inputs.now_s:
            bound, bounded = _bound(setup, inputs, grid)
            every.append((grid.at_s, bound))
            if bounded:
                known.append((grid.at_s, bound))
    return tuple(known), tuple(every)


def _bound(setup: ParentSetup, inputs: ParentInputs, grid: GridReading) -> tuple[Phases3, bool]:
    """The most the building can have drawn at ``grid``: the reading less the least each
    reporting child can have drawn then (nothing for a child whose reports say nothing of
    it), and whether every reporting child's reports said something."""
    load, every = list(grid.current_a), True
    for child in setup.children:
        if not _reported(child, inputs, setup.timing):
            continue
        report = inputs.reports[child.child_id]
        timing = setup.timing
        lowest = report.lowest_at(grid.at_s, delay_s=timing.report_delay_s)
        every = every and lowest is not None
        for p in PHASES:
            load[p] -= 0.0 if lowest is None else lowest[p]
    a, b, c = (max(0.0, value) for value in load)
    return (a, b, c), every


def _lowest(buildings: Sequence[tuple[float, Phases3]]) -> Phases3 | None:
    if not buildings:
        return None
    a, b, c = (min(load[p] for _, load in buildings) for p in PHASES)
    return (a, b, c)


def _highest(
    setup: ParentSetup, inputs: ParentInputs, window: tuple[Window, Window]
) -> Phases3 | None:
    """The building load increases are held to: the highest of the window's readings every
    reporting child's reports say something of; without such a reading, the highest of the
    window's with nothing taken off for the others (a child's draw just after its report may
    be anything down to nothing); None without a reading in the window (nothing is
    increased); with no grid reading at all, the load the policy assumes (the same blind
    rule as the site's own connectors')."""
    if not inputs.grids:
        assumed_a = setup.policy.assumed_building_load_a
        return (assumed_a, assumed_a, assumed_a)
    loads = window[0] or window[1]
    if not loads:
        return None
    a, b, c = (max(load[p] for _, load in loads) for p in PHASES)
    return (a, b, c)


def _newest_reading(setup: ParentSetup, inputs: ParentInputs) -> GridReading:
    """The newest grid reading less what the reporting children last reported (a guess, not
    a bound: a child's draw may have fallen since). A silent child's draw stays in."""
    newest = inputs.grids[-1]
    load = list(newest.current_a)
    for child in setup.children:
        if _reported(child, inputs, setup.timing):
            draw_a = inputs.reports[child.child_id].demand.draw_a
            for p in PHASES:
                load[p] -= draw_a[p]
    a, b, c = (max(0.0, value) for value in load)
    return GridReading((a, b, c), newest.at_s)


def _pseudo_connectors(child: ChildFeeder, demand: ChildDemand) -> list[ConnectorDemand]:
    return [
        ConnectorDemand(
            f"{child.child_id}/{entry.connector_id}",
            entry.state,
            wiring=entry.wiring,
            feeder=child.child_id,
            ev_phases=entry.ev_phases,
            min_current_a=entry.min_current_a,
            max_current_a=entry.max_current_a,
            priority=entry.priority,
        )
        for entry in demand.connectors
    ]


def _fixed_load(child_id: str, floor: Phases3) -> list[ConnectorDemand]:
    """A child counted at ``floor``: one silent load per grid phase on its feeder."""
    return [
        ConnectorDemand(
            f"{child_id}/L{p + 1}",
            DemandState.UNAVAILABLE,
            wiring=(p,),
            feeder=child_id,
            min_current_a=0.0,
            max_current_a=floor[p],
        )
        for p in PHASES
        if floor[p] > 0
    ]


def _wanted(
    child: ChildFeeder, demands: Sequence[ConnectorDemand], alloc: Allocation, keep_safe: bool
) -> Phases3:
    """What the allocation offered the child's connectors, per grid phase, within its feeder
    and at least its safe budget (``keep_safe``: where every child's safe budget fits)."""
    total = [0.0, 0.0, 0.0]
    prefix = f"{child.child_id}/"
    for demand in demands:
        if demand.feeder == child.child_id and demand.connector_id.startswith(prefix):
            offered_a = alloc.current_a(demand.connector_id)
            for phase in demand.grid_phases:
                total[phase] += offered_a
    safe_a = min(child.safe_budget_a, child.limit_a) if keep_safe else 0.0
    a, b, c = (min(max(total[p], safe_a), child.limit_a) for p in PHASES)
    return (a, b, c)


def _base(
    setup: ParentSetup, building_a: Phases3, floors: Mapping[str, Phases3]
) -> list[list[float]]:
    """Per node of the tree and phase: the building load (at the grid) and the floors."""
    tree = tree_of(setup.site)
    base = [[0.0, 0.0, 0.0] for _ in tree.nodes]
    base[0] = list(building_a)
    for cid, floor in floors.items():
        for node in tree.path(cid):
            for p in PHASES:
                base[node][p] += floor[p]
    return base


def over_limits(
    setup: ParentSetup, building_a: Phases3, floors: Mapping[str, Phases3]
) -> list[str]:
    """The limits the building load and the children's floors alone exceed (nothing can be
    cut there: the floors are what the children may be drawing)."""
    tree = tree_of(setup.site)
    base = _base(setup, building_a, floors)
    return [
        f"{tree.label(node, p)}: counted {base[node][p]:.1f} A"
        for node in tree.nodes
        for p in PHASES
        if base[node][p] > tree.limits[node] + EPS_A
    ]


def fit(
    setup: ParentSetup,
    building_a: Phases3 | None,
    floors: Mapping[str, Phases3],
    wanted: Mapping[str, Phases3],
) -> dict[str, Phases3]:
    """Each live child's new budget: ``wanted`` where it is no more than the child's floor,
    else its floor plus the part of the increase that fits over the building load and every
    child's floor (None: the building load is not known, and nothing is increased)."""
    if building_a is None:
        return {cid: _at_most(want, floors[cid]) for cid, want in wanted.items()}
    tree = tree_of(setup.site)
    paths = {c.child_id: tree.path(c.child_id) for c in setup.children}
    base = _base(setup, building_a, floors)
    rises = {cid: [max(0.0, w[p] - floors[cid][p]) for p in PHASES] for cid, w in wanted.items()}
    for node in tree.bottom_up:
        under = [rises[cid] for cid in rises if node in paths[cid]]
        for p in PHASES:
            room_a = tree.limits[node] - base[node][p]
            _cut([(r, p) for r in under], max(room_a, 0.0))
    power_w = setup.site.power_limit_w
    if power_w is not None:
        room_a = power_w / setup.site.nominal_voltage_v - sum(base[0])
        _cut([(r, p) for r in rises.values() for p in PHASES], max(room_a, 0.0))
    step_a = setup.policy.resolution_a
    budgets: dict[str, Phases3] = {}
    for cid, want in wanted.items():
        floor, rise = floors[cid], rises[cid]
        a, b, c = (
            want[p] if want[p] <= floor[p] else floor[p] + _round_down(rise[p], step_a)
            for p in PHASES
        )
        budgets[cid] = (a, b, c)
    return budgets


def _at_most(want: Phases3, floor: Phases3) -> Phases3:
    a, b, c = (min(want[p], floor[p]) for p in PHASES)
    return (a, b, c)


def _cut(rises: list[tuple[list[float], int]], room_a: float) -> None:
    """Scale the given increases (each a child's per-phase list and the phase) down alike
    until together they fit ``room_a``."""
    total_a = sum(r[p] for r, p in rises)
    if total_a <= room_a + EPS_A:
        return
    factor = room_a / total_a
    for r, p in rises:
        r[p] *= factor


def _round_down(value_a: float, step_a: float) -> float:
    return max(0.0, math.floor(value_a / step_a + 1e-9) * step_a)


def _issue(
    setup: ParentSetup,
    state: ParentState,
    ledgers: dict[str, Ledger],
    budgets: Mapping[str, Phases3],
    inputs: ParentInputs,
) -> tuple[dict[str, Ledger], tuple[BudgetMessage, ...], int]:
    """A new budget for every live child whose budget changed or whose lease is a third
    over; a silent child gets nothing (its lease runs out)."""
    now_s, timing, version = inputs.now_s, setup.timing, state.next_version
    publish: list[BudgetMessage] = []
    for child in setup.children:
        cid, ledger = child.child_id, ledgers[child.child_id]
        latest = ledger.latest
        amounts = budgets.get(cid)
        if amounts is None:
            continue
        due = latest is None or now_s - latest.issued_s >= renewal_s(child.lease_s)
        if not due and not _differs(amounts, latest.current_a if latest else _ZERO):
            continue
        issued = Issued(version, amounts, now_s, now_s + _counted_s(child, timing))
        ledgers[cid] = replace(ledger, counted=(*ledger.counted, issued), latest=issued)
        publish.append(_message(setup.site, child, state.epoch, issued, inputs.wall_s))
        version += 1
    return ledgers, tuple(publish), version


def _reported(child: ChildFeeder, inputs: ParentInputs, timing: ParentTiming) -> bool:
    report = inputs.reports.get(child.child_id)
    return report is not None and 0 <= inputs.now_s - report.received_s <= timing.report_stale_s


def _differs(one: Phases3, other: Phases3) -> bool:
    return any(abs(one[p] - other[p]) > EPS_A for p in PHASES)


def _message(
    site: Site, child: ChildFeeder, epoch: str, issued: Issued, wall_s: float
) -> BudgetMessage:
    power_w = None
    if site.power_limit_w is not None:  # the budget's share of the power limit, as currents
        power_w = sum(issued.current_a) * site.nominal_voltage_v
    return BudgetMessage(
        child.child_id,
        issued.current_a,
        power_w,
        epoch,
        issued.version,
        wall_s,
        child.lease_s,
        child.safe_budget_a,
    )
