"""The protocol as a whole, under any order of events: a parent and two children exchange
budgets and demands while messages are delayed or lost, children go silent and come back, and
the gateways' clocks differ within the tolerance. Each child draws the worst it may: all of its
effective budget its EVs can take, and for 5 s after a lowering still the higher one (IEC
61851's time to follow); under a cap its EVs may also take less of that on their own (pause,
slow down), the grid meter may miss a reading, and a child's demand may arrive up to the
delay its parent allows for (one step: a link that cannot send it sooner drops it). The grid's
real load never exceeds its limit."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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
from edge_controller.domain.model import Limit

GRID_A = 63.0
FOLLOW_S = 5.0
TOLERANCE_S = 2.0
WALL_BASE_S = 1_700_000_000.0
# More examples for a search (GATEWAY_PROPERTY_EXAMPLES=2000 HYPOTHESIS_PROFILE=explore, with
# --hypothesis-seed=N); the suite runs the default.
EXAMPLES = int(os.environ.get("GATEWAY_PROPERTY_EXAMPLES", "60"))


@dataclass
class Child:
    feeder: ChildFeeder
    evs: int
    skew_s: float
    inbox: deque[BudgetMessage] = field(default_factory=deque)
    last: BudgetMessage | None = None
    held: HeldBudget | None = None
    offers: list[tuple[float, tuple[float, float, float]]] = field(default_factory=list)
    budgets: list[tuple[float, tuple[float, float, float]]] = field(default_factory=list)
    # Every step's draw, and when the previous report was made (its span starts the delay its
    # parent allows for before that, as the child's service does).
    draws: list[tuple[float, tuple[float, float, float]]] = field(default_factory=list)
    reported_s: float | None = None

    def receive(self, now_s: float) -> None:
        while self.inbox:
            message = self.inbox.popleft()
            if newer(message, self.last):
                self.last = message
                feeder = self.feeder
                running = effective_budget(self.held, now_s, feeder.limit_a, feeder.safe_budget_a)
                wall_s = WALL_BASE_S + now_s + self.skew_s
                self.held = hold(message, now_s, wall_s, TOLERANCE_S, running.current_a)

    def draw(self, now_s: float, share: float = 1.0) -> tuple[float, float, float]:
        """The worst its EVs may draw now: each phase at the highest offer of the last 5 s;
        ``share``: the part of that its EVs take on their own (0: paused)."""
        budget = effective_budget(self.held, now_s, self.feeder.limit_a, self.feeder.safe_budget_a)
        want_a = 32.0 * self.evs
        self.budgets.append((now_s, budget.current_a))
        self.offers.append((now_s, tuple(min(b, want_a) for b in budget.current_a)))  # type: ignore[arg-type]
        recent = [o for t, o in self.offers if t >= now_s - FOLLOW_S]
        a, b, c = (share * max(o[p] for o in recent) for p in range(3))
        self.draws.append((now_s, (a, b, c)))
        return (a, b, c)

    def report(self, now_s: float, draw: tuple[float, float, float]) -> ChildDemand:
        budget = effective_budget(self.held, now_s, self.feeder.limit_a, self.feeder.safe_budget_a)
        recent = [b for t, b in self.budgets if t >= now_s - FOLLOW_S]
        may_a = (max(b[0] for b in recent), max(b[1] for b in recent), max(b[2] for b in recent))
        share = tuple(d / self.evs for d in draw) if self.evs else None
        entries = tuple(
            DemandEntry(f"c{n}", DemandState.CHARGING, (0, 1, 2), None, 6.0, 32.0, 0, share)  # type: ignore[arg-type]
            for n in range(self.evs)
        )
        cid = self.feeder.child_id
        since_s = -1.0 if self.reported_s is None else self.reported_s - DEMAND_DELAY_S
        span = [d for t, d in self.draws if since_s <= t <= now_s]
        lowest = (min(d[0] for d in span), min(d[1] for d in span), min(d[2] for d in span))
        highest = (max(d[0] for d in span), max(d[1] for d in span), max(d[2] for d in span))
        span_s = now_s - next(t for t, _ in self.draws if since_s <= t)
        self.reported_s = now_s
        return ChildDemand(
            cid, now_s, budget.applied, may_a, draw, entries, 0.0, lowest, span_s, highest
        )


events = st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans())
# What each step does beyond the messages: the share of its worst draw each child's EVs take on
# their own (1: all of it, 0: paused), and whether the grid meter missed its reading.
Own = tuple[float, float, bool]
own_events = st.tuples(
    st.sampled_from((1.0, 1.0, 1.0, 0.0, 0.5)),
    st.sampled_from((1.0, 1.0, 1.0, 0.0, 0.5)),
    st.sampled_from((False, False, False, True)),
)
# Per step, whether each child's demand made then arrives a step later (1 s, the most
# ``ParentTiming.report_delay_s`` allows for: the child's link drops a demand not sent within
# DEMAND_SEND_WITHIN_S), after the parent's decision of that step.
Late = tuple[bool, bool]
late_events = st.tuples(
    st.sampled_from((False, False, False, True)), st.sampled_from((False, False, False, True))
)
# Found by a random draw (63.5 A against 63 A): a's draws of 31 A measured at 2 s and 8 s were
# taken to bracket the grid reading of 7 s, when a drew nothing (its budget had been lowered to
# 0 A and raised again meanwhile): the building load was taken for 0 A, not 1 A, for three
# decisions, and both children were raised to 31.5 A. Each step: deliver to a, to b, report a, b.
DIPPED_STEPS = "--xx xx-- xxx- ---- ---- ---- ---- ---x x-x- ---- ---- -x--"
DRAW_DIPPED_BETWEEN_TWO_REPORTS = {
    "building_a": 1.0,
    "evs": (1, 1),
    "safes": (0.0, 0.0),
    "skews": (0.0, 0.0),
    "steps": [tuple(flag == "x" for flag in step) for step in DIPPED_STEPS.split()],
    "restart_at": 0,
}
# Found next (63.5 A against 63 A): b's 31 A reported at 8 s and 10 s bracketed the grid reading
# of 9 s, when b drew 15.5 A; no later reading was bracketed, so that pairing alone made the
# building load (0 A, not 1 A) for four decisions.
DIPPED_STEPS_AGAIN = "--xx -x-- ---- ---- -x-- ---- ---- ---- --xx --x- -x-x ---- ---- x---"
DRAW_DIPPED_BETWEEN_CLOSE_REPORTS = {
    **DRAW_DIPPED_BETWEEN_TWO_REPORTS,
    "steps": [tuple(flag == "x" for flag in step) for step in DIPPED_STEPS_AGAIN.split()],
}


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    building_a=st.floats(0, 20),
    evs=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    safes=st.tuples(st.sampled_from([0.0, 6.0, 16.0]), st.sampled_from([0.0, 6.0, 16.0])),
    skews=st.tuples(st.floats(-TOLERANCE_S, TOLERANCE_S), st.floats(-TOLERANCE_S, TOLERANCE_S)),
    steps=st.lists(events, min_size=10, max_size=60),
    restart_at=st.integers(0, 80),
)
@example(**DRAW_DIPPED_BETWEEN_TWO_REPORTS)  # type: ignore[arg-type]
@example(**DRAW_DIPPED_BETWEEN_CLOSE_REPORTS)  # type: ignore[arg-type]
def test_grid_limit_holds_whatever_the_messages_do(
    *,
    building_a: float,
    evs: tuple[int, int],
    safes: tuple[float, float],
    skews: tuple[float, float],
    steps: list[tuple[bool, bool, bool, bool]],
    restart_at: int,
) -> None:
    _exchange(building_a, evs, safes, skews, steps, restart_at=restart_at)


def _exchange(
    building_a: float,
    evs: tuple[int, int],
    safes: tuple[float, float],
    skews: tuple[float, float],
    steps: list[tuple[bool, bool, bool, bool]],
    *,
    restart_at: int,
    cap: tuple[int, Limit] | None = None,
    own: Sequence[Own] = (),
    rise: tuple[int, float] | None = None,
    late: Sequence[Late] = (),
) -> list[tuple[float, float, float]]:
    """Every step's real grid load, each checked against the configured limit; ``cap``: from
    which step on a cap is in force, and the cap; ``own``: per step, what the EVs and the grid
    meter do on their own (beyond it, EVs take their worst and every step has a reading);
    ``rise``: from which step on the building draws more, and how much (the configured limit
    is not checked until the budgets had their time to follow, ``CAP_HOLDS_AFTER_S``);
    ``late``: per step, whether each child's demand made then arrives at the next step."""
    feeders = tuple(
        ChildFeeder(name, 50.0, None, safe, 6.0) for name, safe in zip("ab", safes, strict=True)
    )
    site = gateway_site(Site(grid_limit_a=GRID_A), feeders)
    policy = Policy(increase_interval_s=1.0, min_increase_a=0.0)
    setup = ParentSetup(site, feeders, policy, ParentTiming(5.0, FOLLOW_S + 2.0, TOLERANCE_S))
    children = [Child(f, n, s) for f, n, s in zip(feeders, evs, skews, strict=True)]
    state = ParentState("run-1", started_s=0.0)
    reports: dict[str, ChildReport] = {}
    grids: list[GridReading] = []
    loads: list[tuple[float, float, float]] = []
    delayed: list[ChildDemand] = []

    def arrive(demand: ChildDemand, now_s: float) -> None:
        before = reports.get(demand.child_id)
        reports[demand.child_id] = (
            before.then(demand, now_s) if before else ChildReport(demand, now_s)
        )

    for number, (deliver_a, deliver_b, report_a, report_b) in enumerate(steps):
        now_s = float(number)
        share_a, share_b, unread = own[number] if number < len(own) else (1.0, 1.0, False)
        late_ab = late[number] if number < len(late) else (False, False)
        if number == restart_at:  # the parent restarts: it forgets everything
            state, reports = ParentState(f"run-{number}", started_s=now_s), {}
        for demand in delayed:  # made a step ago
            arrive(demand, now_s)
        delayed = []
        draws = []
        for child, deliver, report, share, is_late in zip(
            children,
            (deliver_a, deliver_b),
            (report_a, report_b),
            (share_a, share_b),
            late_ab,
            strict=True,
        ):
            if deliver:
                child.receive(now_s)
            draw = child.draw(now_s, share)
            draws.append(draw)
            if report:
                demand = child.report(now_s, draw)
                if is_late:
                    delayed.append(demand)
                else:
                    arrive(demand, now_s)
        rise_a, following = 0.0, False
        if rise is not None and number >= rise[0]:
            rise_a, following = rise[1], number < rise[0] + CAP_HOLDS_AFTER_S
        a, b, c = (building_a + rise_a + sum(d[p] for d in draws) for p in range(3))
        assert following or max(a, b, c) <= GRID_A + 1e-6, (number, (a, b, c), draws)
        loads.append((a, b, c))
        if not unread:
            grids.append(GridReading((a, b, c), now_s))
        in_force = cap[1] if cap is not None and number >= cap[0] else None
        inputs = ParentInputs(
            dict(reports), tuple(grids[-5:]), now_s, WALL_BASE_S + now_s, grid_cap=in_force
        )
        decision = decide_budgets(setup, state, inputs)
        state = decision.state
        for message in decision.publish:
            children["ab".index(message.child_id)].inbox.append(message)
    return loads


# From a cap on, the budgets handed before it count for their lease, the clock tolerance on
# either side and the time EVs take to follow (a parent restarted counts a child it has not
# heard from at its feeder limit as long): after that the grid holds the cap.
CAP_HOLDS_AFTER_S = 6.0 + 2 * TOLERANCE_S + FOLLOW_S + 2.0 + FOLLOW_S


# Found by a random draw (12 A against a 6 A cap): b, cut off from the start, ran on its 6 A
# safe budget while the parent, the cap too tight for it over its building estimate, handed a
# the 6 A instead; b's safe budget must count while b may run on it.
CUT_OFF_STEPS = (
    "---- ---- ---- ---- ---- ---- ---- ---- ---- ---- ---- ---- ---x --x- ---- ---- ---- ---- "
    "---- ---- ---- ---- ---- ---- ---- ---- ---- ---- ---- ---- ---- ---- --xx x--- ---- ---- "
    "---- ---- ---- ----"
)


def _capped_case(
    building_a: float,
    evs: tuple[int, int],
    safes: tuple[float, float],
    steps: str,
    cap_at: int,
    *,
    above_safe_a: float = 0.0,
    own: Sequence[Own] = (),
    late: Sequence[Late] = (),
) -> dict[str, Any]:
    """A drawn case of the cap property, as an explicit example: no clock skews, no restart,
    the cap the building and the safe budgets and ``above_safe_a`` (none unless told)."""
    return {
        "building_a": building_a,
        "evs": evs,
        "safes": safes,
        "skews": (0.0, 0.0),
        "steps": [tuple(flag == "x" for flag in step) for step in steps.split()],
        "restart_at": 0,
        "cap_at": cap_at,
        "above_safe_a": above_safe_a,
        "own": list(own),
        "late": list(late),
    }


SAFE_BUDGET_OF_A_CHILD_CUT_OFF = _capped_case(0.0, (1, 1), (0.0, 6.0), CUT_OFF_STEPS, 14)
# The strategy keeps a margin of 0.5 A between the cap and the building and safe budgets. With
# none, a draw a child reports from a budget handed before the cap, taken off later readings of
# the building alone, can hide the building, and a budget below that old one goes out as a mere
# lowering (12 A against a 6 A cap in drawn cases). Cutting over the decision's paired building
# estimate mended one such case but kept the budgets swinging and every EV at its minimum under
# any cap with children drawing, so the gap stays open.

# A rule that held rises to the cap over the newest grid reading less each child's last reported
# draw let this one through (19 A for six steps against a 13 A cap, 6 A of it building): b's EV
# paused on its own at 25 s between two of b's reports, the grid was read during the pause and
# not at 26 s, so the reading of 25 s (6 A, the building alone) less the 7 A b reported at 26 s
# took the building for 0 A, and b was raised to the whole cap. Each step delivers to both
# children and both report, but b at 25 s.
PAUSE_STEPS = " ".join(["xxxx"] * 25 + ["xxx-"] + ["xxxx"] * 14)
PAUSE_OWN = [(1.0, 1.0, False)] * 25 + [(1.0, 0.0, False), (1.0, 1.0, True)]
EV_PAUSED_BETWEEN_TWO_REPORTS = _capped_case(
    6.0, (0, 1), (0.0, 0.0), PAUSE_STEPS, 0, above_safe_a=7.0, own=PAUSE_OWN
)

# A rule that took the newest grid reading less the lower of each child's last two draws let
# this one over the configured limit (64 A against 63 A): b reported 6 A at 0 s and 1 s, its EV
# paused on its own at 2 s, the grid read 1 A then (the building alone) and nothing at 3 s and
# 4 s, so 1 A less b's 6 A took the building for 0 A and both children were raised to 31.5 A;
# b's EV took its 31.5 A again at 7 s. The same stale estimate stood at every decision until a
# newer reading came.
EV_PAUSED_AFTER_A_REPORT = _capped_case(
    1.0,
    (1, 1),
    (0.0, 6.0),
    " ".join(["---x", "---x", "--x-", "----", "----", "----", "----", "xx--"] + ["----"] * 32),
    7,
    above_safe_a=1.0,
    own=[
        (1.0, 1.0, False),
        (1.0, 1.0, False),
        (1.0, 0.0, False),
        (1.0, 1.0, True),
        (1.0, 1.0, True),
    ],
)
# Found by a random draw (9 A against an 8 A cap): b reported its 6 A safe budget's draw at 1 s
# and next at 13 s; its 7 A budget had lapsed meanwhile (b's EV then drew its 6 A safe budget),
# and with two reports 12 s apart pairing nothing, the newest reading (7 A) less the lower of
# b's two draws (6 A) took the building for 1 A, then for 0 A once b's 7 A draw was reported:
# b was handed the whole cap.
LAPSED_BETWEEN_DISTANT_REPORTS = _capped_case(
    1.0,
    (0, 1),
    (0.0, 6.0),
    " ".join(
        ["----", "---x", "--x-", "-x--"]
        + ["----"] * 9
        + ["---x"]
        + ["----"] * 10
        + ["-x--"]
        + ["----"] * 15
    ),
    3,
    above_safe_a=1.0,
)

# Found by a random draw (26 A against a 20 A cap, no building): the building load the readings
# bound came to 10 A (each child's lowest draw over reports 12 s apart, its budget changed
# between them), which left no room for b's 16 A safe budget under the cap: taken for a cap the
# safe budgets cannot fit, a was handed the 10 A offered to it alone, while b, cut off, ran on
# its 16 A.
SAFE_BUDGET_LEFT_TO_A_PESSIMISTIC_BOUND = _capped_case(
    0.0,
    (1, 1),
    (0.0, 16.0),
    "---- ---- --x- ---- ---- ---- ---x x--- --x- x--- xx-- "
    + "---- " * 8
    + "---x --x- "
    + "---- " * 4
    + "x--- "
    + "---- " * 14,
    9,
    above_safe_a=4.0,
)

# A parent that placed a report by its arrival alone let this one over the configured limit
# (64 A on the 63 A grid from 22 s to 27 s; the cap is the grid limit): b's report made at 19 s
# arrived at 20 s (its link down a moment), the grid unread at 18 s and 19 s, and b's EV paused
# on its own at 20 s and 21 s: the span of that report, taken to end at 20 s, put b's draw
# before the pause on the reading of 20 s, when b drew nothing, and took the building for 0 A.
REPORT_ARRIVED_LATE = _capped_case(
    1.0,
    (1, 1),
    (0.0, 6.0),
    " ".join(["xxxx"] * 40),
    0,
    above_safe_a=56.0,
    own=[(1.0, 1.0, False)] * 18 + [(1.0, 1.0, True)] * 2 + [(1.0, 0.0, False)] * 2,
    late=[(False, False)] * 19 + [(False, True)],
)


@settings(max_examples=EXAMPLES, deadline=None)
@example(**REPORT_ARRIVED_LATE)
@example(**SAFE_BUDGET_OF_A_CHILD_CUT_OFF)
@example(**SAFE_BUDGET_LEFT_TO_A_PESSIMISTIC_BOUND)
@example(**EV_PAUSED_BETWEEN_TWO_REPORTS)
@example(**EV_PAUSED_AFTER_A_REPORT)
@example(**LAPSED_BETWEEN_DISTANT_REPORTS)
@given(
    building_a=st.floats(0, 20),
    evs=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    safes=st.tuples(st.sampled_from([0.0, 6.0, 16.0]), st.sampled_from([0.0, 6.0, 16.0])),
    skews=st.tuples(st.floats(-TOLERANCE_S, TOLERANCE_S), st.floats(-TOLERANCE_S, TOLERANCE_S)),
    steps=st.lists(events, min_size=40, max_size=70),
    restart_at=st.integers(0, 80),
    cap_at=st.integers(0, 15),
    above_safe_a=st.floats(0.5, 30),
    own=st.lists(own_events, max_size=70),
    late=st.lists(late_events, max_size=70),
)
def test_a_cap_holds_once_the_budgets_before_it_no_longer_count(
    *,
    building_a: float,
    evs: tuple[int, int],
    safes: tuple[float, float],
    skews: tuple[float, float],
    steps: list[tuple[bool, bool, bool, bool]],
    restart_at: int,
    cap_at: int,
    above_safe_a: float,
    own: list[Own],
    late: list[Late],
) -> None:
    """A cap on the grid limit (the operator's, a CSMS's) that leaves the building and both
    safe budgets room, whatever the messages, the EVs on their own and the grid meter do: once
    what was handed before it (or before a restart) no longer counts, the grid's real load
    stays within it."""
    cap_a = min(GRID_A, building_a + sum(safes) + above_safe_a)
    cap = (cap_at, Limit(cap_a, "operator site limit"))
    loads = _exchange(
        building_a, evs, safes, skews, steps, restart_at=restart_at, cap=cap, own=own, late=late
    )
    since = max(cap_at, restart_at if restart_at < len(steps) else 0) + CAP_HOLDS_AFTER_S
    over = [(n, load) for n, load in enumerate(loads) if n >= since and max(load) > cap_a + 1e-6]
    assert not over, (cap_a, over[:3])


# Found by a random draw (66.1 A on the 63 A grid): after the building rose from 15.5 A to
# 24.5 A, a's two EVs were offered 25.6 A beside b's one EV's 13 A, and b was handed its 16 A
# safe budget instead: taken for a lowering of a's earlier budget, 25.6 A went out unchecked,
# and the three added up to 66.1 A once the earlier budget lapsed.
SAFE_BUDGET_BESIDE_A_FULL_OFFER = {
    "building_a": 15.5,
    "rise": (6, 9.0),
    "evs": (2, 1),
    "safes": (16.0, 16.0),
    "skews": (0.0, 0.0),
    "steps": [
        tuple(flag == "x" for flag in step)
        for step in (
            "---- " * 5 + "---x --x- " + "---- " * 19 + "---x --x- x--- " + "---- " * 11
        ).split()
    ],
    "cap_at": 0,
    "above_safe_a": 7.0,
    "own": [],
    "late": [],
}


@settings(max_examples=EXAMPLES, deadline=None)
@example(**SAFE_BUDGET_BESIDE_A_FULL_OFFER)  # type: ignore[arg-type]
@given(
    building_a=st.floats(0, 20),
    rise=st.tuples(st.integers(0, 40), st.floats(0.5, 10)),
    evs=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    safes=st.tuples(st.sampled_from([0.0, 6.0, 16.0]), st.sampled_from([0.0, 6.0, 16.0])),
    skews=st.tuples(st.floats(-TOLERANCE_S, TOLERANCE_S), st.floats(-TOLERANCE_S, TOLERANCE_S)),
    steps=st.lists(events, min_size=40, max_size=80),
    cap_at=st.integers(0, 15),
    above_safe_a=st.floats(0.5, 30),
    own=st.lists(own_events, max_size=80),
    late=st.lists(late_events, max_size=80),
)
def test_a_rise_of_the_building_is_followed_whatever_the_evs_do(
    *,
    building_a: float,
    rise: tuple[int, float],
    evs: tuple[int, int],
    safes: tuple[float, float],
    skews: tuple[float, float],
    steps: list[tuple[bool, bool, bool, bool]],
    cap_at: int,
    above_safe_a: float,
    own: list[Own],
    late: list[Late],
) -> None:
    """The building draws more from some step on, with room left for it and both safe
    budgets under the grid limit or a cap, while the EVs pause and resume on their own and the
    grid meter misses readings: once the budgets handed before the rise no longer count, the
    grid's real load stays within the limit in force (the budgets are lowered far enough for
    the building the readings show, also while an EV that will resume draws nothing)."""
    cap_a = min(GRID_A, building_a + rise[1] + sum(safes) + above_safe_a)
    cap = (cap_at, Limit(cap_a, "operator site limit"))
    loads = _exchange(
        building_a,
        evs,
        safes,
        skews,
        steps,
        restart_at=-1,
        cap=cap,
        own=own,
        rise=rise,
        late=late,
    )
    since = max(cap_at, rise[0]) + CAP_HOLDS_AFTER_S
    over = [(n, load) for n, load in enumerate(loads) if n >= since and max(load) > cap_a + 1e-6]
    assert not over, (cap_a, over[:3])


# A rise of the building hidden by a paused EV: b's EV has drawn nothing since 10 s when the
# building rises 10 A at 20 s (still within the limit), and it resumes some seconds later. The
# parent lowers the children within LOWERED_WITHIN_S of the rise (b's reports then say it drew
# nothing at the reading of the rise, so the rise is surely the building's), and their EVs
# follow within FOLLOW_S: the site is over its limit (at 73 A) only from the resume to then.
# Taking it from the bounds of the readings alone waited two building windows (lowered 5 s
# after the rise): 5 steps over for a resume 6 s after it, 3 for one 8 s after it.
HIDDEN_RISE_AT = 20
LOWERED_WITHIN_S = 2


@pytest.mark.parametrize("resumes_after_s", range(1, 10))
def test_a_building_rise_hidden_by_a_paused_ev_lowers_the_children_at_once(
    resumes_after_s: int,
) -> None:
    resumes_at = HIDDEN_RISE_AT + resumes_after_s
    own = [(1.0, 0.0 if 10 <= n < resumes_at else 1.0, False) for n in range(45)]
    loads = _exchange(
        1.0,
        (1, 1),
        (0.0, 6.0),
        (0.0, 0.0),
        [(True, True, True, True)] * 45,
        restart_at=-1,
        own=own,
        rise=(HIDDEN_RISE_AT, 10.0),
    )
    over = [n for n, load in enumerate(loads) if max(load) > GRID_A + 1e-6]
    followed = HIDDEN_RISE_AT + LOWERED_WITHIN_S + FOLLOW_S
    assert len(over) <= max(0, followed - resumes_at + 1), over
    assert all(n >= resumes_at for n in over), over
    assert max(max(load) for load in loads) <= GRID_A + 10.0 + 1e-6
