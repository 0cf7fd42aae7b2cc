"""Reference ``allocate()``: the same decision as the production code, written plainly (one
full pass per step, dataclasses everywhere). Differential tests compare the two exactly. It shares
the final check's rounding allowance ``OVER_A`` with the production code."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from edge_controller.domain.balancing import OVER_A
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
from tests.unit.domain.balancing.reference.budget import building_load, fixed_budget
from tests.unit.domain.balancing.reference.order import (
    Candidate,
    below_minimum,
    candidate,
    idle_reason,
    own_cap,
)
from tests.unit.domain.balancing.reference.tree import INF, Budget, Item, Tree, fill

Offer = tuple[float, str]
Prev = Mapping[str, ConnectorAllocation]


DEFAULT_POLICY = Policy()


@dataclass(slots=True)
class _Ctx:
    """Per-call lookups, computed once: each connector's path in the tree, loaded grid phases
    and previous allocation."""

    tree: Tree
    site: Site
    building: Phases3
    demands: Sequence[ConnectorDemand]
    paths: list[tuple[int, ...]]
    phases: list[tuple[int, ...]]
    before: list[ConnectorAllocation | None]
    fixed: Budget

    @classmethod
    def make(
        cls, site: Site, demands: Sequence[ConnectorDemand], building: Phases3, prev: Prev
    ) -> _Ctx:
        tree = Tree.build(site)
        paths = [tree.path(d.feeder) for d in demands]  # an unknown feeder fails loudly
        phases = [d.grid_phases for d in demands]
        before = [prev.get(d.connector_id) for d in demands]
        fixed = fixed_budget(tree, site, building, demands)
        return cls(tree, site, building, demands, paths, phases, before, fixed)

    def budget(self, offers: Mapping[int, Offer] | None = None) -> Budget:
        """The fixed loads (building, silent chargers) plus ``offers``, counted afresh."""
        budget = self.fixed.copy()
        paths, phases = self.paths, self.phases
        budget.take_all(
            [(paths[i], phases[i], current) for i, (current, _) in (offers or {}).items()]
        )
        return budget


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
    prev = previous.connectors if previous is not None else {}
    ctx = _Ctx.make(site, demands, building_load(grid, demands, stale, policy), prev)
    offers: dict[int, Offer] = {}
    cands = _hold_starts(ctx, _candidates(ctx, offers, stale=stale, now_s=now_s, policy=policy),
                         now_s)  # fmt: skip
    budget = ctx.budget()
    admitted = _admit(ctx, budget, sorted(cands, key=lambda c: c.sort_key), offers)
    _fill_classes(ctx, budget, admitted, offers, policy)
    _fit_increases(ctx, admitted, offers, now_s, policy)
    notes, final = _enforce(ctx, admitted, offers)
    if stale:
        notes.append("grid meter stale")
    return Allocation(
        at_s=now_s,
        connectors=_records(ctx, offers, now_s, policy),
        building_load_a=ctx.building,
        headroom_a=(final.left[0][0], final.left[0][1], final.left[0][2]),
        grid_stale=stale,
        notes=tuple(notes),
    )


def _candidates(
    ctx: _Ctx,
    offers: dict[int, Offer],
    *,
    stale: bool,
    now_s: float,
    policy: Policy,
) -> list[Candidate]:
    """Connectors that may charge; the others get their 0 and its reason in ``offers``."""
    cands: list[Candidate] = []
    for index, demand in enumerate(ctx.demands):
        if demand.state is DemandState.UNAVAILABLE:
            offers[index] = (0.0, f"not answering → assumed {demand.max_current_a:g} A")
        elif (why := idle_reason(demand)) is not None:
            offers[index] = (0.0, why)
        else:
            cap = own_cap(demand, stale, policy)
            before = ctx.before[index]
            cands.append(candidate(index, demand, cap, before, now_s=now_s, policy=policy))
    return cands


def _admit(
    ctx: _Ctx, budget: Budget, ordered: list[Candidate], offers: dict[int, Offer]
) -> list[Candidate]:
    admitted: list[Candidate] = []
    for cand in ordered:
        why = cand.hold or below_minimum(cand)
        if why is None:
            misfit = budget.take_if_fits(
                ctx.paths[cand.index], ctx.phases[cand.index], cand.demand.min_current_a
            )
            if misfit is None:
                admitted.append(cand)
                continue
            why = f"paused: {misfit} full"
        offers[cand.index] = (0.0, why)
    return admitted


def _fill_classes(
    ctx: _Ctx, budget: Budget, admitted: list[Candidate], offers: dict[int, Offer], policy: Policy
) -> None:
    for priority in sorted({c.demand.priority for c in admitted}, reverse=True):
        items = []
        for cand in admitted:
            if cand.demand.priority != priority:
                continue
            min_a, index = cand.demand.min_current_a, cand.index
            items.append(
                Item(index, min_a, cand.ceiling_a, cand.reason, ctx.paths[index], ctx.phases[index])
            )
        fill(ctx.tree, budget, items)  # this class's minimums are already taken
        for item in items:
            offers[item.index] = _settle(item, ctx.before[item.index], policy)
        budget.take_all([(it.path, it.phases, offers[it.index][0] - it.floor_a) for it in items])


def _settle(item: Item, prev: ConnectorAllocation | None, policy: Policy) -> Offer:
    """Round down to the charger's resolution; hold small increases (hysteresis)."""
    step = policy.resolution_a
    current = max(item.floor_a, math.floor(item.ceiling_a / step + EPS_A) * step)
    current = round(current, 6)
    prev_a = prev.current_a if prev is not None else 0.0
    if prev_a > 0 and prev_a < current < prev_a + policy.min_increase_a:
        return prev_a, f"{item.reason}; hysteresis (holding {prev_a:g} A)"
    return current, item.reason


def _fit_increases(
    ctx: _Ctx, admitted: list[Candidate], offers: dict[int, Offer], now_s: float, policy: Policy
) -> None:
    """An EV lowered within the settle time may still draw what it was lowered from: increases
    get only the room left with everyone counted at the higher of offer and that, in admission
    order; a cut one names the constraint that lacked the room, then the settling."""
    count = len(ctx.demands)
    before = [b.current_a if b is not None else 0.0 for b in ctx.before]
    rises = [c.index for c in admitted if offers[c.index][0] > before[c.index] + EPS_A]
    following = [_still_drawn(ctx, index, offers[index][0], now_s) for index in range(count)]
    if not rises or not any(following):
        return
    counted = [max(before[i] if i in rises else offers[i][0], following[i]) for i in range(count)]
    budget = ctx.fixed.copy()
    budget.take_all([(ctx.paths[i], ctx.phases[i], counted[i]) for i in range(count)])
    for index in rises:
        wanted, reason = offers[index]
        if following[index] > 0:  # lowered, not yet followed: no increase meanwhile
            offers[index] = (before[index], f"{reason}; settling after a decrease")
            continue
        base = before[index]
        path, phases = ctx.paths[index], ctx.phases[index]
        room, label = _room(ctx.tree, budget, path, phases)
        if room >= wanted - base - EPS_A:
            budget.take(path, phases, wanted - base)
            continue
        step = policy.resolution_a
        granted = round(math.floor((base + max(room, 0.0)) / step + EPS_A) * step, 6)
        too_low = granted < ctx.demands[index].min_current_a - EPS_A
        if too_low or (before[index] > 0 and granted < before[index] + policy.min_increase_a):
            granted = before[index]
        if granted > base:
            budget.take(path, phases, granted - base)
        why = f"{label}; settling after a decrease"
        offers[index] = (granted, why if granted > 0 else f"paused: {why}")


def _hold_starts(ctx: _Ctx, cands: list[Candidate], now_s: float) -> list[Candidate]:
    """A start whose minimum does not fit beside what everyone may draw now (its offer, or
    more while following a lowering) is held: it would only share the room and be cut."""
    count = len(ctx.demands)
    earlier = [_still_drawn(ctx, index, INF, now_s) for index in range(count)]
    if not any(earlier):
        return cands
    before = [b.current_a if b is not None else 0.0 for b in ctx.before]
    drawing = [
        max(before[i], earlier[i]) if ctx.demands[i].state.wants_current else 0.0
        for i in range(count)
    ]
    budget = ctx.fixed.copy()
    budget.take_all([(ctx.paths[i], ctx.phases[i], drawing[i]) for i in range(count)])
    checked = []
    for cand in cands:
        kept = cand
        if cand.hold is None and before[cand.index] <= 0:
            room, label = _room(ctx.tree, budget, ctx.paths[cand.index], ctx.phases[cand.index])
            if room < cand.demand.min_current_a - EPS_A:
                kept = replace(cand, hold=f"paused: {label}; settling after a decrease")
        checked.append(kept)
    return checked


def _still_drawn(ctx: _Ctx, index: int, offer: float, now_s: float) -> float:
    record = ctx.before[index]
    if record is None or not ctx.demands[index].state.wants_current:
        return 0.0
    amps = record.settling_from_a if now_s < record.settled_at_s else 0.0
    if offer < record.current_a - EPS_A:
        amps = max(amps, record.current_a)
    return amps


def _room(
    tree: Tree, budget: Budget, path: tuple[int, ...], phases: tuple[int, ...]
) -> tuple[float, str]:
    room, label = INF, ""
    for node in path:
        for phase in phases:
            if budget.left[node][phase] < room:
                room, label = budget.left[node][phase], tree.label(node, phase)
    if budget.power_left_a < INF and budget.power_left_a / len(phases) < room:
        room, label = budget.power_left_a / len(phases), budget.power_label
    return room, label


def _enforce(
    ctx: _Ctx, admitted: list[Candidate], offers: dict[int, Offer]
) -> tuple[list[str], Budget]:
    """Recount every limit from scratch; pause the last admitted until all hold. Never expected
    to act — it guards the site against a flaw in the steps above."""
    notes: list[str] = []
    fixed, final = ctx.budget(), ctx.budget(offers)
    for cand in reversed(admitted):
        if not _over(fixed, final):
            break
        if offers[cand.index][0] > 0:
            offers[cand.index] = (0.0, "paused: safety check")
            notes.append(f"safety check paused {cand.demand.connector_id}")
            final = ctx.budget(offers)
    return notes, final


def _over(fixed: Budget, final: Budget) -> bool:
    """True if our offers push any constraint past its limit (the building alone may be over)."""
    for fixed_row, final_row in zip(fixed.left, final.left, strict=True):
        for before, after in zip(fixed_row, final_row, strict=True):
            if after < -OVER_A and after < before - EPS_A:
                return True
    return final.power_left_a < -OVER_A and final.power_left_a < fixed.power_left_a - EPS_A


def _records(
    ctx: _Ctx, offers: Mapping[int, Offer], now_s: float, policy: Policy
) -> dict[str, ConnectorAllocation]:
    records: dict[str, ConnectorAllocation] = {}
    for index, demand in enumerate(ctx.demands):
        current, reason = offers[index]
        before = ctx.before[index]
        prev_a = before.current_a if before is not None else 0.0
        changed = before.changed_at_s if before is not None else -INF
        increased = before.increased_at_s if before is not None else -INF
        settling = before.settling_from_a if before is not None else 0.0
        settled = before.settled_at_s if before is not None else -INF
        if current < prev_a - EPS_A and demand.state.wants_current:
            settling = max(prev_a, settling if now_s < settled else 0.0)
            settled = now_s + (policy.decrease_settle_s + policy.signal_delay_s)
        unavailable = demand.state is DemandState.UNAVAILABLE
        switched = (prev_a > 0) != (current > 0)
        if unavailable:  # not paused by us: no minimum pause when it answers again
            changed, switched = -INF, False
        records[demand.connector_id] = ConnectorAllocation(
            demand.connector_id,
            current,
            reason,
            now_s if switched else changed,
            now_s if current > prev_a else increased,
            demand.max_current_a if unavailable else current,
            settling,
            settled,
        )
    return records
