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
"""

from __future__ import annotations

import itertools
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
from edge_controller.domain.gateways.messages import BudgetMessage, ChildDemand
from edge_controller.domain.model import Limit, Phases3

PHASES = (0, 1, 2)
_ZERO: Phases3 = (0.0, 0.0, 0.0)
_UNPAIRED = ("no grid reading between two reports of every child: their last two draws used",)


@dataclass(frozen=True, slots=True)
class ChildFeeder:
    """A child as the parent sees it: its feeder (per-phase limit, the feeder above it; None:
    the grid), the budget it falls back to, and the lease of its budgets."""

    child_id: str
    limit_a: float
    parent: str | None
    safe_budget_a: float
    lease_s: float


REPORTS_KEPT = 8  # a child's recent draws, to pair with a grid reading taken between two


@dataclass(frozen=True, slots=True)
class ChildReport:
    """A child's latest demand and when it arrived (the parent's monotonic clock), with the
    draws of its recent reports (when measured: arrival less the draw's age; the draw per grid
    phase), oldest first, this one last."""

    demand: ChildDemand
    received_s: float
    draws: tuple[tuple[float, Phases3], ...] = ()

    def then(self, demand: ChildDemand, received_s: float) -> ChildReport:
        """The report that follows this one."""
        measured = (received_s - demand.draw_age_s, demand.draw_a)
        return ChildReport(demand, received_s, (*self.history[1 - REPORTS_KEPT :], measured))

    @property
    def history(self) -> tuple[tuple[float, Phases3], ...]:
        return self.draws or ((self.received_s - self.demand.draw_age_s, self.demand.draw_a),)

    def draw_around(self, at_s: float, *, lower: bool, within_s: float) -> Phases3 | None:
        """The draw at ``at_s`` from the two measurements around it: the lower of the two
        (``lower``), else the nearer; None if no two are around it within ``within_s`` of each
        other. Further apart the child went silent between them: its budgets may have been
        lowered and raised again meanwhile, and its draw with them (a draw of 0 A between two
        of 31 A, taken for 31 A, hid 31 A of building load)."""
        for (before_s, before), (after_s, after) in itertools.pairwise(self.history):
            if before_s <= at_s <= after_s and after_s - before_s <= within_s:
                if not lower:
                    return before if at_s - before_s < after_s - at_s else after
                a, b, c = (min(before[p], after[p]) for p in PHASES)
                return (a, b, c)
        return None


@dataclass(frozen=True, slots=True)
class ParentTiming:
    """``settle_s``: from a child taking a lower budget to its EVs drawing no more than it;
    ``tolerance_s``: how far the gateways' wall clocks may differ (the children allow as much);
    ``building_window_s``: the grid meter and the children's reports are read at different
    moments, so a building load worked out from them dips for a moment whenever a draw falls
    between the two: increases are held to the highest of this window."""

    report_stale_s: float = 5.0
    settle_s: float = 7.0
    tolerance_s: float = 2.0
    building_window_s: float = 3.0  # increases are held to the highest building load of this


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


@dataclass(frozen=True, slots=True)
class ParentState:
    """``started_s``: when this run of the parent started (its monotonic clock); a child not
    heard from since may hold a budget of the run before, up to its feeder limit."""

    epoch: str
    started_s: float
    next_version: int = 1
    ledgers: Mapping[str, Ledger] = field(default_factory=dict)
    allocation: Allocation | None = None
    buildings: tuple[tuple[float, Phases3], ...] = ()  # (when, building load) of the window
    # The building loads of the window before any hold, and the children reporting then.
    seen_buildings: tuple[tuple[float, Phases3], ...] = ()
    seen_live: frozenset[str] = frozenset()


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


def gateway_site(site: Site, children: Sequence[ChildFeeder]) -> Site:
    """The parent's limit tree with a feeder per child (named after it)."""
    feeders = tuple(Feeder(c.child_id, c.limit_a, c.parent) for c in children)
    return replace(site, feeders=site.feeders + feeders)


def decide_budgets(setup: ParentSetup, state: ParentState, inputs: ParentInputs) -> Decision:
    """One decision: reports confirm budgets, the children's connectors are allocated (silent
    children counted as fixed loads), and each live child's increase is held to what fits
    over a building load from a grid reading paired with the children's reports and every
    child's floor; lowerings go out at once. A cap on the grid limit binds the budgets as it
    binds the parent's own connectors."""
    configured, setup = setup, capped(setup, inputs.grid_cap)
    now_s, timing = inputs.now_s, setup.timing
    ledgers = {
        c.child_id: _confirm(state, c, inputs.reports.get(c.child_id), now_s, timing)
        for c in setup.children
    }
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
    seen = _paired_building(setup, inputs, lower=False) or _newest_reading(setup, inputs)
    building, seen_buildings = _rise_held(setup, state, inputs, seen, frozenset(live))
    alloc = allocate(
        setup.site,
        demands,
        grid=building,
        previous=state.allocation,
        now_s=now_s,
        policy=_unheld(setup.policy),
    )
    building_a = alloc.building_load_a
    paired = _paired_building(setup, inputs, lower=True)
    buildings = _buildings(setup, state, inputs, paired)
    wanted: Mapping[str, Phases3] = {
        c.child_id: _wanted(c, demands, alloc, True) for c in setup.children if c.child_id in live
    }
    if setup is not configured:
        wanted = _within_cap(setup, floors, wanted, (demands, alloc))
    budgets = fit(setup, _highest(buildings), floors, wanted)
    over = over_limits(setup, building_a, floors)
    ledgers, publish, next_version = _issue(setup, state, ledgers, budgets, inputs)
    return Decision(
        state=replace(
            state,
            next_version=next_version,
            ledgers=ledgers,
            allocation=alloc,
            buildings=buildings,
            seen_buildings=seen_buildings,
            seen_live=frozenset(live),
        ),
        publish=publish,
        counted_a=_floors(setup, state, inputs, ledgers),
        building_load_a=building_a,
        notes=alloc.notes + tuple(over) + (() if paired or not inputs.grids else _UNPAIRED),
    )


def capped(setup: ParentSetup, cap: Limit | None) -> ParentSetup:
    """The setup with the grid limit in force: a cap below the configured limit (from the
    operator or the CSMS) takes its place, named after its source."""
    site = setup.site
    if cap is None or cap.current_a >= site.grid_limit_a:
        return setup
    return replace(setup, site=replace(site, grid_limit_a=cap.current_a, grid_label=cap.source))


def _within_cap(
    setup: ParentSetup,
    floors: Mapping[str, Phases3],
    wanted: Mapping[str, Phases3],
    offered: tuple[Sequence[ConnectorDemand], Allocation],
) -> Mapping[str, Phases3]:
    """What the live children are to get under a cap below the configured grid limit, adding
    up within it over the allocation's building load and the silent children's floors (a
    budget is never more than what is wanted; an increase over a child's floor is held to the
    highest building load of the window by ``fit`` as always). A child may run on its safe
    budget whenever it does not hear its parent, so where the safe budgets fit the cap each
    child keeps its safe budget and only what its connectors were offered beyond it is cut to
    fit. Where they do not, a child gets its connectors' offers alone, below its safe budget if
    need be: such a cap holds only while every child hears its parent."""
    demands, alloc = offered
    room = [setup.site.grid_limit_a - alloc.building_load_a[p] for p in PHASES]
    for child in setup.children:
        cid = child.child_id
        for p in PHASES:
            room[p] -= min(child.safe_budget_a, child.limit_a) if cid in wanted else floors[cid][p]
    if any(room[p] < -EPS_A for p in PHASES):
        live = [c for c in setup.children if c.child_id in wanted]
        return {c.child_id: _wanted(c, demands, alloc, False) for c in live}
    safes = {c.child_id: min(c.safe_budget_a, c.limit_a) for c in setup.children}
    above = {cid: [max(0.0, want[p] - safes[cid]) for p in PHASES] for cid, want in wanted.items()}
    for p in PHASES:
        _cut([(rise, p) for rise in above.values()], max(room[p], 0.0))
    step_a = setup.policy.resolution_a
    fitted: dict[str, Phases3] = {}
    for cid, rise in above.items():
        a, b, c = (min(wanted[cid][p], safes[cid] + _round_down(rise[p], step_a)) for p in PHASES)
        fitted[cid] = (a, b, c)
    return fitted


def _rise_held(
    setup: ParentSetup,
    state: ParentState,
    inputs: ParentInputs,
    seen: GridReading | None,
    live: frozenset[str],
) -> tuple[GridReading | None, tuple[tuple[float, Phases3], ...]]:
    """The building load to allocate over, and the window's loads to keep: while the newest
    grid reading is fresh and within the grid's limits, the lowest of ``building_window_s``
    (the same children reporting), so a rise waits that long. A grid reading paired with
    children's draws from before their EVs followed a raise shows their rise as building load,
    less and less as their reports catch up: every child would be cut back and raised again a
    moment later. Over a limit, or blind, nothing waits (nor for a child gone silent, whose
    draw is building load from now on). Increases are held to ``_buildings`` whatever this
    gives."""
    if seen is None:
        return None, ()
    since_s = inputs.now_s - setup.timing.building_window_s
    kept = tuple(item for item in state.seen_buildings if item[0] > since_s)
    window = (*(kept if state.seen_live == live else ()), (inputs.now_s, seen.current_a))
    newest, site = inputs.grids[-1], setup.site
    fresh = inputs.now_s - newest.at_s <= setup.policy.stale_after_s
    if not (fresh and within_limits(newest.current_a, site, EPS_A)):
        return seen, window
    a, b, c = (min(load[p] for _, load in window) for p in PHASES)
    return GridReading((a, b, c), seen.at_s), window


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
            floors[child.child_id] = (child.limit_a, child.limit_a, child.limit_a)
        else:
            floors[child.child_id] = _floor(child, ledgers[child.child_id])
    return floors


def _floor(child: ChildFeeder, ledger: Ledger) -> Phases3:
    """The least the child is counted at: its safe budget, and every budget still counted."""
    safe_a = min(child.safe_budget_a, child.limit_a)
    a, b, c = (max([safe_a, *(i.current_a[p] for i in ledger.counted)]) for p in PHASES)
    return (a, b, c)


def _buildings(
    setup: ParentSetup, state: ParentState, inputs: ParentInputs, paired: GridReading | None
) -> tuple[tuple[float, Phases3], ...]:
    """The window's building loads with this decision's: from a reading paired with the
    reports, else the newest reading less the lower of each reporting child's last two draws
    (nothing for a child with one); the higher of the two when a newer reading than the paired
    one came: the same pairing, taken again at every decision until the reports bracket a newer
    reading, would fill the window alone (a child's draw that dipped between its two reports,
    taken for the reports' 31 A, hid 1 A of building load for 4 s: 63.5 A on a 63 A grid)."""
    newest_a: Phases3 | None = None
    if inputs.grids:
        load = list(inputs.grids[-1].current_a)
        for child in setup.children:
            if _reported(child, inputs, setup.timing):
                last_two = inputs.reports[child.child_id].history[-2:]
                for p in PHASES:
                    load[p] -= min(draw[p] for _, draw in last_two) if len(last_two) > 1 else 0.0
        a, b, c = (max(0.0, value) for value in load)
        newest_a = (a, b, c)
    if paired is not None and (newest_a is None or paired.at_s >= inputs.grids[-1].at_s):
        building_a = paired.current_a
    elif paired is not None and newest_a is not None:
        a, b, c = (max(paired.current_a[p], newest_a[p]) for p in PHASES)
        building_a = (a, b, c)
    elif newest_a is not None:
        building_a = newest_a
    else:
        assumed_a = setup.policy.assumed_building_load_a
        building_a = (assumed_a, assumed_a, assumed_a)
    since_s = inputs.now_s - setup.timing.building_window_s
    kept = tuple(item for item in state.buildings if item[0] > since_s)
    return (*kept, (inputs.now_s, building_a))


def _highest(buildings: Sequence[tuple[float, Phases3]]) -> Phases3:
    a, b, c = (max(load[p] for _, load in buildings) for p in PHASES)
    return (a, b, c)


def _newest_reading(setup: ParentSetup, inputs: ParentInputs) -> GridReading | None:
    """Without a paired reading: the newest less what the reporting children last reported
    (increases are held to the newest with nothing subtracted meanwhile). A silent child's
    draw stays in: its last report may be older than what it draws now."""
    if not inputs.grids:
        return None
    newest = inputs.grids[-1]
    load = list(newest.current_a)
    for child in setup.children:
        if _reported(child, inputs, setup.timing):
            draw_a = inputs.reports[child.child_id].demand.draw_a
            for p in PHASES:
                load[p] -= draw_a[p]
    a, b, c = (max(0.0, value) for value in load)
    return GridReading((a, b, c), newest.at_s)


def _paired_building(
    setup: ParentSetup, inputs: ParentInputs, *, lower: bool
) -> GridReading | None:
    """The newest grid reading taken between two measured draws of every reporting child, less
    each child's draw then: the nearer of its two measurements for the allocation (quick to
    follow the building), the lower for increases (a draw between two measurements is taken to
    lie between them; a reading after the last could follow a fall in a draw not reported yet,
    and subtracting the higher one would hide load); None without such a reading. Two
    measurements of a child further apart than ``report_stale_s`` pair nothing (see
    ``ChildReport.draw_around``), nor does a grid reading older than that."""
    if not inputs.grids:
        return None
    reporting = [
        inputs.reports[c.child_id] for c in setup.children if _reported(c, inputs, setup.timing)
    ]
    within_s = setup.timing.report_stale_s
    for grid in reversed(inputs.grids):
        if inputs.now_s - grid.at_s > within_s:
            break
        draws = [r.draw_around(grid.at_s, lower=lower, within_s=within_s) for r in reporting]
        if all(draw is not None for draw in draws):
            load = list(grid.current_a)
            for draw in draws:
                assert draw is not None
                for p in PHASES:
                    load[p] -= draw[p]
            a, b, c = (max(0.0, value) for value in load)
            return GridReading((a, b, c), grid.at_s)
    return None


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
    building_a: Phases3,
    floors: Mapping[str, Phases3],
    wanted: Mapping[str, Phases3],
) -> dict[str, Phases3]:
    """Each live child's new budget: ``wanted`` where it is no more than the child's floor,
    else its floor plus the part of the increase that fits over the building load and every
    child's floor."""
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
        child.child_id, issued.current_a, power_w, epoch, issued.version, wall_s, child.lease_s
    )
