"""A parent and its children in a closed loop, pure and on a simulated clock: the children take
the budgets the parent publishes (after a delivery delay), their EVs follow each child's budget
(after a lag) and the grid meter reads the building plus every child's draw. A loop file
(loops/*.yaml, one per case, named after it) gives the site, each child's EVs and when they
arrive, the operator's caps on the grid limit, the times a child is cut off from the broker
(nothing reaches it, nothing of it reaches the parent; back, it gets the broker's retained
budget first), the broker is down (every child cut off, the retained budgets lost, the
parent's budgets queued, the latest per child, and sent when it is back, as an MQTT client that
does not drop them would) or the parent restarts, and what each child's budget must come to."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_controller.domain.balancing import DemandState, GridReading, Policy, Site
from edge_controller.domain.gateways import (
    DEMAND_DELAY_S,
    BudgetMessage,
    ChildDemand,
    ChildFeeder,
    ChildReport,
    DemandEntry,
    HeldBudget,
    ParentInputs,
    ParentSetup,
    ParentState,
    ParentTiming,
    decide_budgets,
    effective_budget,
    gateway_site,
    hold,
    newer,
)
from edge_controller.domain.model import Limit, Phases3

WALL_BASE_S = 1_700_000_000.0
GRIDS_KEPT = 16


@dataclass(frozen=True)
class Ev:
    arrives_s: float
    max_a: float


@dataclass
class Child:
    feeder: ChildFeeder
    evs: tuple[Ev, ...]
    cut: tuple[tuple[float, float], ...]  # (from, to): off the broker
    down: tuple[tuple[float, float], ...]  # (from, to): stopped, then started afresh
    inbox: deque[tuple[float, BudgetMessage]] = field(default_factory=deque)
    last: BudgetMessage | None = None
    held: HeldBudget | None = None
    retained: BudgetMessage | None = None  # the broker's copy of its latest budget
    budgets: list[tuple[float, Phases3]] = field(default_factory=list)

    was_cut: bool = False
    # Every tick's draw since the last report's less the delay its parent allows for, and when
    # that report's draw was (the child's service's span).
    draws: list[tuple[float, float]] = field(default_factory=list)
    reported_s: float | None = None

    def measure(self, now_s: float, draw_a: float) -> None:
        """Every tick's draw, for the next report's lowest."""
        self.draws.append((now_s, draw_a))

    def off(self, now_s: float) -> bool:
        return any(start_s <= now_s < end_s for start_s, end_s in (*self.cut, *self.down))

    def take(self, now_s: float, tolerance_s: float) -> None:
        """The budgets delivered by now; those sent while it was off the broker are lost. A
        child that starts again knows no budget and gets the retained one first; one back on
        the broker gets the retained one first."""
        if any(start_s <= now_s < end_s for start_s, end_s in self.down):
            self.last = self.held = self.reported_s = None
            self.draws = []
            self.inbox.clear()
            if self.retained is not None:
                self.inbox.append((now_s, self.retained))
            return
        cut = any(start_s <= now_s < end_s for start_s, end_s in self.cut)
        if self.was_cut and not cut and self.retained is not None:
            self.inbox.appendleft((now_s, self.retained))
        self.was_cut = cut
        while self.inbox and self.inbox[0][0] <= now_s:
            _, message = self.inbox.popleft()
            if not self.off(now_s) and newer(message, self.last):
                self.last = message
                running_a = self.budget_a(now_s, record=False)
                self.held = hold(message, now_s, WALL_BASE_S + now_s, tolerance_s, running_a)

    def budget_a(self, now_s: float, *, record: bool = True) -> Phases3:
        safe_a, limit_a = self.feeder.safe_budget_a, self.feeder.limit_a
        budget = effective_budget(self.held, now_s, limit_a, safe_a).current_a
        if record:
            self.budgets.append((now_s, budget))
        return budget

    def draw_per_ev_a(self, now_s: float, lag_s: float) -> list[float]:
        """Each EV here takes an equal part of the budget of ``lag_s`` ago, up to its maximum."""
        evs = [ev for ev in self.evs if ev.arrives_s <= now_s]
        seen = [b for t, b in self.budgets if t <= now_s - lag_s]
        budget_a = min(seen[-1]) if seen else 0.0
        return [min(ev.max_a, budget_a / len(evs)) for ev in evs]

    def report(self, now_s: float, draws_a: list[float], follow_s: float) -> ChildDemand:
        recent = [b for t, b in self.budgets if t >= now_s - follow_s]
        a, b, c = (max(budget[p] for budget in recent) for p in range(3))
        evs = [ev for ev in self.evs if ev.arrives_s <= now_s]
        entries = tuple(
            _entry(f"c{n}", ev, draw_a)
            for n, (ev, draw_a) in enumerate(zip(evs, draws_a, strict=True))
        )
        held = self.held
        applied = None
        if held is not None and now_s < held.valid_until_s:
            applied = (held.message.epoch, held.message.version)
        total_a = sum(draws_a)
        draw = (total_a, total_a, total_a)
        cid = self.feeder.child_id
        since_s = -math.inf if self.reported_s is None else self.reported_s - DEMAND_DELAY_S
        self.draws = [(t, d) for t, d in self.draws if since_s <= t] or [(now_s, total_a)]
        low_a, since_s = min(d for _, d in self.draws), self.draws[0][0]
        self.reported_s = now_s
        lowest = (low_a, low_a, low_a)
        return ChildDemand(
            cid,
            WALL_BASE_S + now_s,
            applied,
            (a, b, c),
            draw,
            entries,
            0.0,
            lowest,
            now_s - since_s,
        )


def _entry(connector_id: str, ev: Ev, draw_a: float) -> DemandEntry:
    """A three-phase EV charging at ``draw_a``."""
    measured = (draw_a, draw_a, draw_a)
    state = DemandState.CHARGING
    return DemandEntry(connector_id, state, (0, 1, 2), None, 6.0, ev.max_a, 0, measured)


@dataclass(frozen=True)
class Expect:
    shares_a: dict[str, float]
    settled_by_s: float  # from then on every child's budget is its share
    toward_from_s: float  # from then on no child's budget moves away from its share
    apart_s: float = 0.0  # from then on two changes of a child's budget are this far apart


@dataclass
class Loop:
    setup: ParentSetup
    children: list[Child]
    building_a: float
    until_s: float
    tick_s: float
    lag_s: float  # the EVs follow a budget this much later
    delivery_s: float  # a budget reaches its child this much after it is published
    parent_restarts_s: tuple[float, ...]
    expect: Expect
    broker_down: tuple[tuple[float, float], ...] = ()
    caps: tuple[tuple[float, float, float], ...] = ()  # (from, to, amps): a cap on the grid
    wobble_a: tuple[float, ...] = ()  # added to the building at each tick in turn (noise)

    def grid_cap(self, now_s: float) -> Limit | None:
        for start_s, end_s, current_a in self.caps:
            if start_s <= now_s < end_s:
                return Limit(current_a, "operator")
        return None

    def broker_is_down(self, now_s: float) -> bool:
        return any(start_s <= now_s < end_s for start_s, end_s in self.broker_down)


def load(path: Path) -> Loop:
    data = yaml.safe_load(path.read_text())
    children, feeders = [], []
    model: dict[str, Any] = data["model"]
    broker_down = tuple((float(c[0]), float(c[1])) for c in model.get("broker_down", []))
    for cid, body in data["children"].items():
        feeder = ChildFeeder(cid, body["limit_a"], None, body["safe_budget_a"], body["lease_s"])
        feeders.append(feeder)
        evs = tuple(Ev(float(e["arrives_s"]), float(e.get("max_a", 16))) for e in body["evs"])
        cut = tuple((float(c[0]), float(c[1])) for c in body.get("cut_off", [])) + broker_down
        down = tuple((float(c[0]), float(c[1])) for c in body.get("restarted", []))
        children.append(Child(feeder, evs, cut, down))
    site = gateway_site(Site(**data["site"]), feeders)
    policy = Policy(**data.get("policy", {}))
    setup = ParentSetup(site, tuple(feeders), policy, ParentTiming(**data.get("timing", {})))
    expect = data["expect"]
    return Loop(
        setup=setup,
        children=children,
        building_a=float(model["building_a"]),
        until_s=float(model["until_s"]),
        tick_s=float(model.get("tick_s", 0.5)),
        lag_s=float(model.get("lag_s", 1.0)),
        delivery_s=float(model.get("delivery_s", 0.3)),
        parent_restarts_s=tuple(float(t) for t in model.get("parent_restarts_s", [])),
        expect=Expect(
            expect["shares_a"],
            float(expect["settled_by_s"]),
            float(expect["toward_from_s"]),
            float(expect.get("apart_s", 0.0)),
        ),
        broker_down=broker_down,
        caps=tuple((float(c[0]), float(c[1]), float(c[2])) for c in model.get("caps", [])),
        wobble_a=tuple(float(a) for a in model.get("wobble_a", [])),
    )


def run(loop: Loop) -> list[tuple[float, float]]:
    """Run the loop; every child's budgets are in its ``budgets``. Returns the grid's highest
    phase at every tick."""
    timing = loop.setup.timing
    state = ParentState("run-0", started_s=-1000.0)
    reports: dict[str, ChildReport] = {}
    grids: deque[GridReading] = deque(maxlen=GRIDS_KEPT)
    highest: list[tuple[float, float]] = []
    restarts = list(loop.parent_restarts_s)
    queued: dict[str, BudgetMessage] = {}  # the parent's, while the broker is down
    now_s = 0.0
    while now_s < loop.until_s:
        down = loop.broker_is_down(now_s)
        if down and not queued:  # restarted without persistence: its retained budgets are lost
            for child in loop.children:
                child.retained = None
        if not down:
            _send(loop, queued.values(), now_s)
            queued = {}
        if restarts and now_s >= restarts[0]:
            state = ParentState(f"run-{now_s:g}", started_s=now_s)
            reports, grids = {}, deque(maxlen=GRIDS_KEPT)
            restarts.pop(0)
        load_a = loop.building_a
        if loop.wobble_a:
            load_a += loop.wobble_a[round(now_s / loop.tick_s) % len(loop.wobble_a)]
        for child in loop.children:
            child.take(now_s, timing.tolerance_s)
            child.budget_a(now_s)
            draws_a = child.draw_per_ev_a(now_s, loop.lag_s)
            load_a += sum(draws_a)
            child.measure(now_s, sum(draws_a))
            if not child.off(now_s):
                demand = child.report(now_s, draws_a, timing.settle_s)
                before = reports.get(child.feeder.child_id)
                report = before.then(demand, now_s) if before else ChildReport(demand, now_s)
                reports[child.feeder.child_id] = report
        highest.append((now_s, load_a))
        grids.append(GridReading((load_a, load_a, load_a), now_s))
        inputs = ParentInputs(
            dict(reports), tuple(grids), now_s, WALL_BASE_S + now_s, loop.grid_cap(now_s)
        )
        decision = decide_budgets(loop.setup, state, inputs)
        state = decision.state
        if down:
            queued |= {message.child_id: message for message in decision.publish}
        else:
            _send(loop, decision.publish, now_s)
        now_s = round(now_s + loop.tick_s, 6)
    return highest


def _send(loop: Loop, messages: Iterable[BudgetMessage], now_s: float) -> None:
    for message in messages:
        child = next(c for c in loop.children if c.feeder.child_id == message.child_id)
        child.inbox.append((now_s + loop.delivery_s, message))
        child.retained = message
