"""The gateways' services on a real site controller: a child caps its site with the budget that
holds (its safe budget from the start and whenever none does), never takes a malformed or stale
budget, and reports its demand; a parent takes only well-formed demands of its own children.
The link is a recording of what would go to the MQTT client (the broker is in the e2e tests)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from edge_controller.domain.balancing import ConnectorDemand, DemandState, GridReading, Site
from edge_controller.domain.commands import Origin, SetSiteLimit
from edge_controller.domain.gateways import (
    DEMAND_SEND_WITHIN_S,
    BudgetMessage,
    ChildFeeder,
    EffectiveBudget,
    ParentInputs,
    ParentSetup,
    ParentState,
    decide_budgets,
    demand_of,
    encode_budget,
    encode_demand,
    gateway_site,
    parse_budget,
    parse_demand,
)
from edge_controller.domain.model import Limit
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.gateways import (
    ChildService,
    ChildTerms,
    GatewayClocks,
    GatewayTopics,
    ParentService,
)
from edge_controller.storage.database import Database
from edge_controller.storage.gateways_store import GatewayStore

TOPICS = GatewayTopics("edge/gw")
WALL_S = 1_764_800_000.0


class Recording:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []
        self.send_by_s: list[float | None] = []

    def publish_other(
        self, topic: str, payload: bytes, *, retain: bool, send_by_s: float | None = None
    ) -> None:
        self.sent.append((topic, payload, retain))
        self.send_by_s.append(send_by_s)


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def monotonic(self) -> float:
        return self.now_s

    def wall(self) -> float:
        return WALL_S + self.now_s - 100.0


def _child() -> tuple[ChildService, SiteController, Recording, Clock]:
    controller = SiteController("hall-a", Site(grid_limit_a=32.0), [], None)
    link, clock = Recording(), Clock()
    terms = ChildTerms("hall-a", feeder_limit_a=32.0, safe_budget_a=12.0)
    clocks = GatewayClocks(clock.monotonic, clock.wall)
    return ChildService(terms, controller, link, TOPICS, clocks=clocks), controller, link, clock


def _budget(
    version: int, current_a: float, *, epoch: str = "e1", issued_at_s: float = WALL_S
) -> bytes:
    message = BudgetMessage(
        "hall-a",
        (current_a,) * 3,
        None,
        epoch,
        version,
        issued_at_s,
        3.0,  # type: ignore[arg-type]
    )
    return encode_budget(message)


async def _limit(controller: SiteController) -> float:
    await controller.step()
    return controller.snapshot().grid_limit_a


async def test_child_runs_on_its_safe_budget_until_a_budget_holds() -> None:
    child, controller, _, clock = _child()
    assert await _limit(controller) == 12.0
    child.on_message(TOPICS.budget("hall-a"), _budget(1, 20.0))
    assert await _limit(controller) == 20.0
    clock.now_s += 3.0  # the lease is over
    child.apply()
    assert await _limit(controller) == 12.0


async def test_a_late_budget_lowers_the_child_but_never_raises_it() -> None:
    child, controller, _, clock = _child()
    topic = TOPICS.budget("hall-a")
    clock.now_s += 20.0  # queued 4.6 s ago: 0.4 s left of its 3 s lease and 2 s tolerance
    child.on_message(topic, _budget(7, 24.0, issued_at_s=WALL_S + 15.4))
    assert await _limit(controller) == 12.0  # not raised from its safe budget for 0.4 s
    assert "late" in child.budget.source and child.budget.applied == ("e1", 7)
    child.on_message(topic, _budget(8, 24.0, issued_at_s=WALL_S + 20.0))  # the fresh one
    assert await _limit(controller) == 24.0
    clock.now_s += 2.6  # 0.4 s left of v8 (held 3 s from its receipt), and of v9
    child.on_message(topic, _budget(9, 10.0, issued_at_s=WALL_S + 18.0))
    assert await _limit(controller) == 10.0  # a late lowering is taken at once
    clock.now_s += 0.5  # and its end is the safe budget, as for any budget
    child.apply()
    assert await _limit(controller) == 12.0


async def test_child_ignores_malformed_stale_and_foreign_budgets() -> None:
    child, controller, _, _ = _child()
    topic = TOPICS.budget("hall-a")
    child.on_message(topic, _budget(5, 20.0))
    bad = json.loads(_budget(6, 30.0))
    bad["current_a"] = [30, "x", 30]
    for payload in (b"\\xff\\x00", b"{" * 5000, json.dumps(bad).encode(), _budget(4, 30.0)):
        child.on_message(topic, payload)
    child.on_message(TOPICS.budget("hall-b"), _budget(9, 30.0))  # another child's
    assert await _limit(controller) == 20.0
    child.on_message(topic, _budget(6, 80.0))  # above the feeder: clamped
    assert await _limit(controller) == 32.0


async def test_a_bad_first_message_leaves_the_child_on_its_safe_budget() -> None:
    child, controller, _, _ = _child()
    child.on_message(TOPICS.budget("hall-a"), b'{"child_id": "hall-a", "current_a": [40, 40, 40]}')
    assert await _limit(controller) == 12.0


async def test_child_reports_the_budget_it_runs_on() -> None:
    child, controller, link, _ = _child()
    child.on_message(TOPICS.budget("hall-a"), _budget(3, 20.0))
    await controller.step()
    child.report()
    topic, payload, retain = link.sent[-1]
    assert topic == TOPICS.demand("hall-a") and not retain
    demand = parse_demand(payload, "hall-a")
    assert demand.applied == ("e1", 3)
    assert demand.budget_a == (20.0, 20.0, 20.0)


class MeasuredSite:
    """What a child's service reads of its site controller: each decision's demands (one EV
    drawing ``draw_a`` on every phase) and when their readings were taken."""

    def __init__(self) -> None:
        self.demands: list[ConnectorDemand] = []
        self.taken_s: float | None = None

    def decide(self, draw_a: float, taken_s: float) -> None:
        measured = (draw_a, draw_a, draw_a)
        self.demands = [ConnectorDemand("c1", DemandState.CHARGING, measured_current_a=measured)]
        self.taken_s = taken_s

    def draw_taken_at_s(self) -> float | None:
        return self.taken_s

    def set_budget(self, budget: EffectiveBudget) -> None:
        del budget


def test_child_reports_the_lowest_draw_since_its_report_before() -> None:
    """An EV that pauses between two reports and draws again by the second: the second says
    so (its lowest draw since the first, 0 A, over the second between them), and so does the
    third, its span starting the delay a demand may take (1 s) before the second's draw; the
    fourth's, from 1 s before the third's, says 16 A again. Each says the highest draw over
    the same span too (16 A throughout: the EV drew it at each report)."""
    site, link, clock = MeasuredSite(), Recording(), Clock()
    terms = ChildTerms("hall-a", feeder_limit_a=32.0, safe_budget_a=12.0)
    clocks = GatewayClocks(clock.monotonic, clock.wall)
    child = ChildService(terms, site, link, TOPICS, clocks=clocks)  # type: ignore[arg-type]
    reported = []
    for draw_a, taken_s, report in [
        (16.0, 99.8, True),
        (0.0, 100.3, False),  # paused between two reports
        (16.0, 100.8, True),
        (16.0, 101.8, True),
        (16.0, 102.8, True),
    ]:
        clock.now_s = taken_s + 0.2
        site.decide(draw_a, taken_s)
        child.sample()
        if report:
            child.report()
            reported.append(parse_demand(link.sent[-1][1], "hall-a"))
    assert [d.draw_a[0] for d in reported] == [16.0] * 4
    lowest = [(16.0,) * 3, (0.0,) * 3, (0.0,) * 3, (16.0,) * 3]
    assert [d.lowest_draw_a for d in reported] == lowest
    assert [d.lowest_span_s for d in reported] == pytest.approx([0.0, 1.0, 2.0, 2.0])
    assert [d.highest_draw_a for d in reported] == [(16.0,) * 3] * 4
    assert [d.draw_age_s for d in reported] == pytest.approx([0.2] * 4)
    # Sent later, it would be placed later than it was made: the link drops it instead.
    assert link.send_by_s[-1] == pytest.approx(clock.now_s + DEMAND_SEND_WITHIN_S)


def test_parent_takes_only_well_formed_demands_of_its_children() -> None:
    children = (ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),)
    site = gateway_site(Site(grid_limit_a=50.0), children)
    controller = SiteController("depot", site, [], None)
    link, clock = Recording(), Clock()
    parent = ParentService(
        ParentSetup(site, children),
        controller,
        link,
        TOPICS,
        clocks=GatewayClocks(clock.monotonic, clock.wall),
    )
    demand = {
        "child_id": "hall-a",
        "sent_at_s": WALL_S,
        "budget": None,
        "budget_a": [12, 12, 12],
        "draw_a": [0, 0, 0],
        "connectors": [{"id": "c1:1", "state": "waiting", "wiring": [0, 1, 2], "ev_phases": None,
                        "min_a": 6, "max_a": 16, "priority": 0, "measured_a": None}],
    }  # fmt: skip
    parent.on_message(TOPICS.demand("hall-x"), json.dumps(demand).encode())  # not a child
    parent.on_message(TOPICS.demand("hall-a"), b"not json")
    clock.now_s += 30.0  # past the start-up window: the child is no longer counted at its feeder
    parent.step()
    assert link.sent == []  # nothing heard: nothing handed out
    parent.on_message(TOPICS.demand("hall-a"), json.dumps(demand).encode())
    parent.step()
    topic, payload, retain = link.sent[-1]
    assert topic == TOPICS.budget("hall-a") and retain
    # No grid reading: the EV gets the fallback current (6 A), the child its safe budget.
    assert parse_budget(payload, "hall-a").current_a == (12.0, 12.0, 12.0)


def _parent(
    children: tuple[ChildFeeder, ...], keeper: GatewayStore | None = None
) -> tuple[ParentService, Clock]:
    """A parent of ``children`` on a 50 A grid, with its clock."""
    site = gateway_site(Site(grid_limit_a=50.0), children)
    clock = Clock()
    parent = ParentService(
        ParentSetup(site, children),
        SiteController("depot", site, [], None),
        Recording(),
        TOPICS,
        clocks=GatewayClocks(clock.monotonic, clock.wall),
        keeper=keeper,
    )
    return parent, clock


def test_a_demand_made_long_before_it_arrives_bounds_nothing() -> None:
    """A demand its child's clock says was made more than the clock tolerance (2 s) and the
    delay a demand may take (1 s) ago, held in a broker: its lowest and highest draws are
    left out, and nothing of the child's draw comes off a grid reading by it; one made within
    that keeps them."""
    children = (ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),)
    parent, clock = _parent(children)
    lowest = ((16.0, 16.0, 16.0), 1.0)
    for made_s, kept in [(clock.wall() - 2.9, True), (clock.wall() - 3.1, False)]:
        demand = demand_of("hall-a", [], (None, (12.0,) * 3), made_s, lowest=lowest)
        demand = replace(
            demand, draw_a=(16.0,) * 3, lowest_draw_a=(16.0,) * 3, highest_draw_a=(20.0,) * 3
        )
        parent.on_message(TOPICS.demand("hall-a"), encode_demand(demand))
        got = parent._reports["hall-a"].demand
        assert (got.lowest_draw_a == (16.0,) * 3) is kept, made_s
        assert (got.highest_draw_a == (20.0,) * 3) is kept, made_s


def test_parent_sends_a_budget_only_within_its_renewal() -> None:
    children = (ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),)
    site = gateway_site(Site(grid_limit_a=50.0), children)
    link, clock = Recording(), Clock()
    parent = ParentService(
        ParentSetup(site, children),
        SiteController("depot", site, [], None),
        link,
        TOPICS,
        clocks=GatewayClocks(clock.monotonic, clock.wall),
    )
    demand = {"child_id": "hall-a", "sent_at_s": WALL_S, "budget": None, "budget_a": [12] * 3,
              "draw_a": [0, 0, 0], "connectors": []}  # fmt: skip
    clock.now_s += 30.0
    parent.on_message(TOPICS.demand("hall-a"), json.dumps(demand).encode())
    parent.step()
    assert link.sent and link.send_by_s == [clock.now_s + 1.0]  # a third of the 3 s lease


def _waiting(child_id: str, evs: int) -> bytes:
    return json.dumps(
        {
            "child_id": child_id,
            "sent_at_s": WALL_S,
            "budget": None,
            "budget_a": [12, 12, 12],
            "draw_a": [0, 0, 0],
            "connectors": [
                {"id": f"c:{n}", "state": "waiting", "wiring": [0, 1, 2], "ev_phases": None,
                 "min_a": 6, "max_a": 16, "priority": 0, "measured_a": None}
                for n in range(1, evs + 1)
            ],
        }
    ).encode()  # fmt: skip


@pytest.mark.parametrize("source", ["csms", "operator", "both"])
async def test_parent_budgets_keep_to_the_cap_on_its_grid_limit(source: str) -> None:
    """A cap on the parent's grid limit (a CSMS's ChargingStationMaxProfile, the operator's
    site limit) binds what the children are handed: below every safe budget (12 A each) if
    need be. Without a grid reading each EV gets the fallback 6 A: 15 A carry two of the
    four, not the 24 A of two safe budgets."""
    children = tuple(ChildFeeder(c, 32.0, None, 12.0, 3.0) for c in ("hall-a", "hall-b"))
    site = gateway_site(Site(grid_limit_a=50.0), children)
    controller = SiteController("depot", site, [], None)
    if source in ("csms", "both"):
        controller.set_site_cap(Limit(15.0 if source == "csms" else 40.0, "csms profile 1"))
    if source in ("operator", "both"):
        await controller.apply(SetSiteLimit(15.0, Origin.WEB))
    link, clock = Recording(), Clock()
    parent = ParentService(
        ParentSetup(site, children),
        controller,
        link,
        TOPICS,
        clocks=GatewayClocks(clock.monotonic, clock.wall),
    )
    clock.now_s += 30.0  # past the start-up window: the children are counted as reported
    for child in ("hall-a", "hall-b"):
        parent.on_message(TOPICS.demand(child), _waiting(child, 2))
    parent.step()
    handed = {
        topic.rsplit("/", 1)[-1]: parse_budget(payload, topic.rsplit("/", 1)[-1]).current_a
        for topic, payload, _ in link.sent
    }
    assert set(handed) == {"hall-a", "hall-b"}
    assert max(sum(b[p] for b in handed.values()) for p in range(3)) == pytest.approx(12.0)


def test_only_a_child_that_keeps_reporting_no_lowest_draw_is_logged_as_of_the_version_before() -> (
    None
):
    """A child sends no lowest draw before its controller's first decision: that first report
    is not logged as a child to upgrade; three in a row without one are, once."""
    children = (
        ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),
        ChildFeeder("hall-b", 32.0, None, 12.0, 3.0),
    )
    parent, clock = _parent(children)
    bare = demand_of("hall-a", [], (None, (12.0,) * 3), clock.wall())
    with capture_logs() as logs:
        parent.on_message(TOPICS.demand("hall-a"), encode_demand(bare))  # before a decision
        for _ in range(5):  # a child of this version: a lowest draw from then on
            lowest = demand_of(
                "hall-a", [], (None, (12.0,) * 3), clock.wall(), lowest=((0.0,) * 3, 1.0)
            )
            parent.on_message(TOPICS.demand("hall-a"), encode_demand(lowest))
        for _ in range(5):  # a child of the version before: never one
            old = replace(bare, child_id="hall-b")
            parent.on_message(TOPICS.demand("hall-b"), encode_demand(old))
    named = [e["child"] for e in logs if e["event"].startswith("child reports no lowest draw")]
    assert named == ["hall-b"]


def _counted(current_a: float, safe_a: float | None, version: int = 1) -> bytes:
    message = BudgetMessage("hall-a", (current_a,) * 3, None, "e1", version, WALL_S, 3.0, safe_a)
    return encode_budget(message)


async def test_a_child_given_a_lower_safe_budget_by_its_parent_falls_back_to_it() -> None:
    """The child's own safe budget is 12 A, its parent says it has 8 A for it: once it heard
    that, the child falls back to 8 A (logged once, shown as a gateway fault) and says so in
    its reports; a parent that does not say changes nothing."""
    child, controller, link, clock = _child()
    topic = TOPICS.budget("hall-a")
    child.on_message(topic, _counted(20.0, None))
    clock.now_s += 3.0
    child.apply()
    assert await _limit(controller) == 12.0
    assert [f.key for f in child.faults()] == ["parent_lost"]  # its lease over
    with capture_logs() as logs:
        child.on_message(topic, _counted(20.0, 8.0, version=2))
        child.on_message(topic, _counted(20.0, 8.0, version=3))
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "the parent has a lower safe budget for this child than its own: it falls back to the "
        "parent's"
    ]
    assert await _limit(controller) == 20.0
    clock.now_s += 3.0  # the lease is over
    child.apply()
    assert await _limit(controller) == 8.0
    assert [f.key for f in child.faults()] == ["safe_budget", "parent_lost"]
    child.report()
    sent = parse_demand(link.sent[-1][1], "hall-a")
    assert (sent.safe_budget_a, sent.fallback_a) == (12.0, 8.0)


def test_a_child_that_never_hears_a_parent_shows_it() -> None:
    child, _, link, clock = _child()
    child.report()
    sent = parse_demand(link.sent[-1][1], "hall-a")
    assert (sent.safe_budget_a, sent.fallback_a) == (12.0, 12.0)
    clock.now_s += 29.0
    assert child.faults() == ()
    clock.now_s += 1.0
    (fault,) = child.faults()
    assert fault.key == "no_parent" and "safe budget (12 A)" in fault.text
    child.on_message(TOPICS.budget("hall-a"), _budget(1, 20.0, issued_at_s=clock.wall()))
    assert child.faults() == ()


def test_a_budget_expired_on_arrival_is_no_parent_heard() -> None:
    """A broker replays a dead parent's retained budget to a child that restarts: long
    expired, it shows no parent to the child, which still shows the fault."""
    child, _, _, clock = _child()
    child.on_message(TOPICS.budget("hall-a"), _budget(1, 20.0, issued_at_s=WALL_S - 600.0))
    clock.now_s += 30.0
    assert [f.key for f in child.faults()] == ["no_parent"]


def test_parent_counts_a_child_at_its_higher_safe_budget_and_shows_it() -> None:
    """hall-a says it falls back to 80 A, 32 A are configured for it: logged once, shown as a
    gateway fault naming both values and the keys, counted at 80 A; shown until it says no
    more than configured. Demands from a child not configured are shown for a minute."""
    children = (ChildFeeder("hall-a", 80.0, None, 32.0, 3.0),)
    parent, clock = _parent(children)
    topic = TOPICS.demand("hall-a")
    with capture_logs() as logs:
        for _ in range(3):
            demand = demand_of("hall-a", [], (None, (80.0,) * 3), clock.wall(), safe=(80.0, 80.0))
            parent.on_message(topic, encode_demand(demand))
            parent.step()
            clock.now_s += 1.0
    assert len([e for e in logs if e["log_level"] == "error"]) == 1
    (fault,) = parent.faults()
    assert fault.key == "safe_budget:hall-a"
    assert "80 A, above the 32 A" in fault.text
    assert "site.gateways.children.hall-a.safe_budget_a" in fault.text
    assert parent.counted_a["hall-a"] == (80.0, 80.0, 80.0)
    assert parent._controller._gateway_faults == (fault,)
    fixed = demand_of("hall-a", [], (None, (32.0,) * 3), clock.wall(), safe=(32.0, 32.0))
    parent.on_message(topic, encode_demand(fixed))
    assert parent.faults() == ()
    with capture_logs() as logs:
        parent.on_message(TOPICS.demand("hall-x"), encode_demand(replace(fixed, child_id="hall-x")))
    assert [e["child"] for e in logs if e["log_level"] == "error"] == ["hall-x"]
    assert [f.key for f in parent.faults()] == ["unknown_child:hall-x"]
    clock.now_s += 61.0
    assert parent.faults() == ()


async def test_a_restarted_parent_counts_a_child_as_it_said_before(tmp_path: Path) -> None:
    """hall-a said it falls back to 80 A (32 A configured): the parent keeps that in its
    database; a new run of the parent on the same database, hearing nothing from hall-a,
    counts it at 80 A and shows the fault from the start, and past the time a budget of the
    run before could hold (41 s): counted at 32 A there, the other children would be handed
    the 48 A hall-a may draw. What hall-a says once it reports again replaces it."""
    children = (ChildFeeder("hall-a", 80.0, None, 32.0, 30.0),)
    db = await Database.open(tmp_path / "edge.db")
    try:
        parent, clock = _parent(children, GatewayStore(db))
        await parent.recall()
        demand = demand_of("hall-a", [], (None, (80.0,) * 3), clock.wall(), safe=(80.0, 32.0))
        parent.on_message(TOPICS.demand("hall-a"), encode_demand(demand))
        parent.step()
        assert await parent.keep()
    finally:
        await db.close()
    db = await Database.open(tmp_path / "edge.db")
    try:
        store = GatewayStore(db)
        restarted, clock = _parent(children, store)
        await restarted.recall()
        assert [f.key for f in restarted.faults()] == ["safe_budget:hall-a"]
        clock.now_s += 60.0
        restarted.step()
        assert restarted.counted_a["hall-a"] == (80.0, 80.0, 80.0)
        fixed = demand_of("hall-a", [], (None, (32.0,) * 3), clock.wall(), safe=(32.0, 32.0))
        restarted.on_message(TOPICS.demand("hall-a"), encode_demand(fixed))
        restarted.step()
        assert await restarted.keep()
        assert restarted.counted_a["hall-a"] == (32.0, 32.0, 32.0)
        assert restarted.faults() == ()
        (said,) = (await store.fallbacks()).values()
        assert (said.own_a, said.now_a) == (32.0, 32.0)
    finally:
        await db.close()


async def test_a_child_whose_chargers_failsafe_draw_is_above_its_safe_budget_is_kept_and_shown(
    tmp_path: Path,
) -> None:
    """hall-a's chargers draw 20 A on their fail-safe currents, 12 A are configured for it:
    shown as a gateway fault naming the keys, counted at 20 A, and kept in the parent's
    database: a restarted parent counts it at that and shows the fault before hall-a reports."""
    children = (ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),)
    db = await Database.open(tmp_path / "edge.db")
    try:
        parent, clock = _parent(children, GatewayStore(db))
        await parent.recall()
        demand = demand_of(
            "hall-a", [], (None, (12.0,) * 3), clock.wall(), safe=(12.0, 12.0),
            failsafe_a=(20.0, 20.0, 14.0),
        )  # fmt: skip
        with capture_logs() as logs:
            for _ in range(3):
                parent.on_message(TOPICS.demand("hall-a"), encode_demand(demand))
                parent.step()
        assert len([e for e in logs if e["log_level"] == "error"]) == 1
        (fault,) = parent.faults()
        assert fault.key == "failsafe:hall-a" and "up to 20 A on a phase" in fault.text
        assert "site.gateways.children.hall-a.safe_budget_a" in fault.text
        assert parent.counted_a["hall-a"] == (20.0, 20.0, 14.0)
        assert await parent.keep()
    finally:
        await db.close()
    db = await Database.open(tmp_path / "edge.db")
    try:
        restarted, clock = _parent(children, GatewayStore(db))
        await restarted.recall()
        assert [f.key for f in restarted.faults()] == ["failsafe:hall-a"]
        clock.now_s += 60.0
        restarted.step()
        assert restarted.counted_a["hall-a"] == (20.0, 20.0, 14.0)
    finally:
        await db.close()


async def _kept_rows(db: Database) -> dict[str, tuple[object, ...]]:
    def job(conn: sqlite3.Connection) -> dict[str, tuple[object, ...]]:
        rows = conn.execute("SELECT child_id, own_safe_a, failsafe_a FROM gateway_children")
        return {str(row[0]): tuple(row[1:]) for row in rows}

    return await db.read(job)


async def test_a_malformed_kept_row_is_left_out_and_a_gone_child_forgotten(
    tmp_path: Path,
) -> None:
    """The parent's database holds hall-a's 80 A as it said, a row of hall-b damaged (its
    safe budget not a number), one of hall-c whose fail-safe draw is two currents, and one
    of hall-old, no longer configured. A restarted parent starts: hall-a counted at 80 A,
    hall-b and hall-c as if never heard (as a parent without a database counts them), each
    bad row logged, hall-old neither counted nor kept."""
    children = tuple(ChildFeeder(c, 80.0, None, 32.0, 30.0) for c in ("hall-a", "hall-b", "hall-c"))
    db = await Database.open(tmp_path / "edge.db")
    try:

        def damage(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO gateway_children"
                " (child_id, own_safe_a, fallback_a, failsafe_a, reported_at_s)"
                " VALUES (?, ?, ?, ?, 0)",
                [
                    ("hall-a", 80.0, 32.0, None),
                    ("hall-b", "twelve", None, None),
                    ("hall-c", 32.0, None, "[20, 20]"),
                    ("hall-old", 50.0, None, None),
                ],
            )

        await db.write(damage)
        restarted, clock = _parent(children, GatewayStore(db))
        with capture_logs() as logs:
            await restarted.recall()
        bad = [e["child"] for e in logs if e["event"].startswith("a gateway child's kept row")]
        assert bad == ["hall-b", "hall-c"]
        assert [f.key for f in restarted.faults()] == ["safe_budget:hall-a"]
        assert set(await _kept_rows(db)) == {"hall-a", "hall-b", "hall-c"}
        unheard, unheard_clock = _parent(children)
        for parent, at in ((restarted, clock), (unheard, unheard_clock)):
            at.now_s += 60.0  # past the time a budget of the run before could hold
            parent.step()
        assert restarted.counted_a["hall-a"] == (80.0, 80.0, 80.0)
        assert set(restarted.counted_a) == {"hall-a", "hall-b", "hall-c"}
        for cid in ("hall-b", "hall-c"):
            assert restarted.counted_a[cid] == unheard.counted_a[cid], cid
    finally:
        await db.close()


async def test_a_parent_whose_database_fails_under_it_keeps_deciding(tmp_path: Path) -> None:
    """Writing what the children said fails with other than a storage error (here the
    database closed under the parent): logged, and the decisions beside it go on."""
    children = (ChildFeeder("hall-a", 80.0, None, 32.0, 30.0),)
    site = gateway_site(Site(grid_limit_a=50.0), children)
    clock, link = Clock(), Recording()
    db = await Database.open(tmp_path / "edge.db")
    parent = ParentService(
        ParentSetup(site, children),
        SiteController("depot", site, [], None),
        link,
        TOPICS,
        tick_s=0.01,
        clocks=GatewayClocks(clock.monotonic, clock.wall),
        keeper=GatewayStore(db),
    )
    await db.close()
    demand = demand_of("hall-a", [], (None, (80.0,) * 3), clock.wall(), safe=(80.0, 32.0))
    parent.on_message(TOPICS.demand("hall-a"), encode_demand(demand))
    with capture_logs() as logs:
        running = asyncio.create_task(parent.run())
        try:
            while not running.done() and not any(  # noqa: ASYNC110
                e["event"] == "what the children said could not be kept" for e in logs
            ):
                await asyncio.sleep(0.01)
            clock.now_s += 31.0  # past the start-up window: a decision hands hall-a a budget
            parent.on_message(
                TOPICS.demand("hall-a"), encode_demand(replace(demand, sent_at_s=clock.wall()))
            )
            while not running.done() and not link.sent:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            assert not running.done()
            assert link.sent[-1][0] == TOPICS.budget("hall-a")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running


def test_a_child_that_loses_its_parent_shows_it_until_a_fresh_budget() -> None:
    """Once it has heard its parent, a child whose lease runs out (the parent, the broker or
    its line lost) shows a gateway fault and logs it once; a fresh budget clears it."""
    child, _, _, clock = _child()
    child.on_message(TOPICS.budget("hall-a"), _budget(1, 20.0, issued_at_s=clock.wall()))
    assert child.faults() == ()
    clock.now_s += 2.9
    child.apply()
    assert child.faults() == ()
    clock.now_s += 0.2  # the 3 s lease is over
    with capture_logs() as logs:
        child.apply()
        child.apply()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "no budget in force from the parent: on the safe budget"
    ]
    (fault,) = child.faults()
    assert fault.key == "parent_lost" and "safe budget (12 A)" in fault.text
    child.on_message(TOPICS.budget("hall-a"), _budget(2, 20.0, issued_at_s=clock.wall()))
    assert child.faults() == ()


def test_a_parent_shows_each_child_and_a_silent_one_as_a_fault() -> None:
    """The parent's view lists each child: its last report's age, the budget in force, what
    it is counted at, lost or not. A child silent past report_stale_s (5 s) is logged once
    and shown as a gateway fault until it reports again; one never heard, 30 s after the
    parent started."""
    children = (
        ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),
        ChildFeeder("hall-b", 32.0, None, 12.0, 3.0),
    )
    parent, clock = _parent(children)
    topic = TOPICS.demand("hall-a")
    demand = demand_of("hall-a", [], (None, (12.0,) * 3), clock.wall(), safe=(12.0, 12.0))
    parent.on_message(topic, encode_demand(demand))
    parent.step()
    a, b = parent._controller._gateway_children
    assert (a.child_id, a.report_age_s, a.lost) == ("hall-a", 0.0, False)
    assert a.budget_a == (12.0, 12.0, 12.0) and a.counted_a == (12.0, 12.0, 12.0)
    assert (b.child_id, b.report_age_s, b.budget_a, b.lost) == ("hall-b", None, None, True)
    assert b.counted_a == (32.0, 32.0, 32.0)  # a budget of a run before may hold
    assert parent.faults() == ()
    with capture_logs() as logs:
        for _ in range(31):
            clock.now_s += 1.0
            parent.step()
    silent = [e["child"] for e in logs if e["log_level"] == "warning"]
    assert silent == ["hall-a", "hall-b"]
    assert [f.key for f in parent.faults()] == ["child_silent:hall-a", "child_silent:hall-b"]
    shown = parent.faults()
    assert "within site.gateways.report_stale_s (5 s)" in shown[0].text
    clock.now_s += 1.0
    parent.step()
    assert parent.faults() == shown  # the same while it lasts: the CSMS is told every change
    a, _ = parent._controller._gateway_children
    assert a.lost and a.budget_a is None and a.report_age_s == 32.0
    parent.on_message(topic, encode_demand(replace(demand, sent_at_s=clock.wall())))
    parent.step()
    assert [f.key for f in parent.faults()] == ["child_silent:hall-b"]


def test_a_child_with_no_draw_of_its_own_read_reports_none_and_is_not_taken_for_an_old_one() -> (
    None
):
    """Before its controller's first decision, and while every connector is idle (its draw
    counted as the building's), a child has no draw of its own read: it reports a lowest draw
    of 0 A from the delay a demand may take (1 s) before its report before, so its parent
    does not log it as a child of the version before (it did after three such reports: at
    every child's start, and after a broker outage). The span after it starts at the next
    draw read, never reaching back to a draw from before it (16 A then, 0 A of its own read
    between)."""
    site, link, clock = MeasuredSite(), Recording(), Clock()
    terms = ChildTerms("hall-a", feeder_limit_a=32.0, safe_budget_a=12.0)
    clocks = GatewayClocks(clock.monotonic, clock.wall)
    child = ChildService(terms, site, link, TOPICS, clocks=clocks)  # type: ignore[arg-type]
    parent, _ = _parent((ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),))
    reported = []
    with capture_logs() as logs:
        for draw_a, taken_s, now_s in [
            (None, None, 100.0),  # no decision yet
            (None, None, 101.0),
            (16.0, 101.8, 102.0),
            (None, None, 103.0),  # every connector idle
            (None, None, 104.0),
            (16.0, 104.5, 104.6),  # read once between two reports
            (16.0, 104.8, 105.0),
        ]:
            clock.now_s = now_s
            if draw_a is None or taken_s is None:
                site.demands, site.taken_s = [], None
            else:
                site.decide(draw_a, taken_s)
                if now_s == 104.6:
                    child.sample()
                    continue
            child.report()
            reported.append(parse_demand(link.sent[-1][1], "hall-a"))
            parent.on_message(TOPICS.demand("hall-a"), link.sent[-1][1])
    assert [e for e in logs if e["event"].startswith("child reports no lowest draw")] == []
    lowest = [d.lowest_draw_a and d.lowest_draw_a[0] for d in reported]
    assert lowest == [0.0, 0.0, 16.0, 0.0, 0.0, 16.0]
    spans = [d.lowest_span_s for d in reported]
    assert spans == pytest.approx([0.0, 2.0, 0.0, 2.0, 2.0, 0.3])


def test_a_parent_shows_a_child_whose_clock_is_off() -> None:
    """hall-a's clock 5 s ahead (tolerance 2 s): its demands are stamped later than they
    arrive, which no delay does: shown as a gateway fault at once, logged once; cleared by a
    demand within. Behind by 5 s, or its demands held 5 s: shown once three in a row arrive
    older than the tolerance and a demand's delay (1 s) allow, not for one."""
    parent, clock = _parent((ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),))
    topic = TOPICS.demand("hall-a")

    def send(offset_s: float) -> None:
        demand = demand_of("hall-a", [], (None, (12.0,) * 3), clock.wall() + offset_s)
        parent.on_message(topic, encode_demand(demand))
        clock.now_s += 1.0

    with capture_logs() as logs:
        send(5.0)
        send(5.3)
    assert [e["offset_s"] for e in logs if e["log_level"] == "error"] == [5.0]
    (fault,) = parent.faults()  # as first seen, the same while it lasts
    assert fault.key == "clock:hall-a" and "5.0 s ahead" in fault.text
    assert "site.gateways.clock_tolerance_s (2 s)" in fault.text
    assert "none of its demands bounds its draw" in fault.text
    send(-0.5)  # on time, or held in the broker as long as the clock is ahead: still shown
    send(-0.5)
    assert [f.key for f in parent.faults()] == ["clock:hall-a"]
    send(-0.5)
    assert parent.faults() == ()
    send(-5.0)
    send(-5.0)
    assert parent.faults() == ()
    send(-5.0)
    (fault,) = parent.faults()
    assert fault.key == "clock:hall-a" and "5.0 s behind" in fault.text
    assert "its demands arriving that old bound nothing of its draw" in fault.text


def test_no_demand_of_a_child_whose_clock_is_ahead_bounds_its_draw() -> None:
    """hall-a's clock 5 s ahead (tolerance 2 s, a demand's delay 1 s); it drew 16 A until
    its EVs lowered to 6 A, the building 14 A. Its demand made just before the lowering,
    held in the broker 5 s, arrives stamped as made then: it looks on time. Taken as a bound,
    its 16 A came off the grid's 20 A read after the lowering and left the building at 4 A,
    10 A too light, handed out to the children; it bounds nothing, nor does any demand while
    the clock shows ahead."""
    children = (ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),)
    parent, clock = _parent(children)
    topic = TOPICS.demand("hall-a")
    drew = ((16.0,) * 3, 2.5)  # its lowest draw over the 2.5 s before each demand

    def send(made_s: float) -> None:
        demand = demand_of("hall-a", [], (None, (16.0,) * 3), made_s + 5.0, lowest=drew)
        demand = replace(
            demand, draw_a=(16.0,) * 3, lowest_draw_a=(16.0,) * 3, highest_draw_a=(16.0,) * 3
        )
        parent.on_message(topic, encode_demand(demand))

    with capture_logs() as logs:
        for _ in range(3):
            send(clock.wall())  # on time: stamped 5 s ahead
            clock.now_s += 1.0
        made_s = clock.wall() - 0.5
        clock.now_s += 4.5  # lowered to 6 A 0.5 s after it was made; held 5 s
        send(made_s)
    site = gateway_site(Site(grid_limit_a=50.0), children)
    # Read 1 s before the held demand arrived (its span, placed by its arrival, surely holds
    # that moment): 14 A of building, 6 A of hall-a.
    grids = [GridReading((20.0,) * 3, clock.now_s - 1.0)]
    inputs = ParentInputs(dict(parent._reports), grids, clock.now_s, clock.wall())
    state = ParentState("run-1", started_s=0.0)
    decision = decide_budgets(ParentSetup(site, children), state, inputs)
    assert [low for _, lows in decision.state.lows for low in lows if low < 14.0] == []
    got = parent._reports["hall-a"].demand
    assert (got.lowest_draw_a, got.highest_draw_a) == (None, None)
    refused = [e for e in logs if e["event"].startswith("demand of a child whose clock")]
    assert refused and refused[0]["ahead_s"] == 5.0


def test_a_child_shows_a_parent_whose_clock_is_ahead_of_its_own() -> None:
    child, _, _, clock = _child()
    topic = TOPICS.budget("hall-a")
    child.on_message(topic, _budget(1, 20.0, issued_at_s=clock.wall() + 5.0))
    child.on_message(topic, _budget(2, 20.0, issued_at_s=clock.wall() + 5.4))
    (fault,) = child.faults()
    assert fault.key == "clock" and "5.0 s ahead of this child's" in fault.text
    child.on_message(topic, _budget(3, 20.0, issued_at_s=clock.wall() - 0.5))  # delayed a bit
    assert child.faults() == ()


def test_two_gateways_reporting_as_one_child_are_shown() -> None:
    """Each run of a child's daemon names itself in its demands: demands switching back to a
    run heard before are two gateways running as one child (shown for a minute after the
    last such switch, logged once); a restart brings a new run once and shows nothing."""
    parent, clock = _parent((ChildFeeder("hall-a", 32.0, None, 12.0, 3.0),))
    topic = TOPICS.demand("hall-a")

    def send(instance: str) -> None:
        demand = demand_of("hall-a", [], (None, (12.0,) * 3), clock.wall(), instance=instance)
        parent.on_message(topic, encode_demand(demand))
        clock.now_s += 0.5

    for instance in ["run-1", "run-1", "run-2", "run-2"]:  # restarted
        send(instance)
    assert parent.faults() == ()
    with capture_logs() as logs:
        for instance in ["run-3", "run-2", "run-3", "run-2", "run-3"]:  # a second as hall-a
            send(instance)
    assert len([e for e in logs if e["log_level"] == "error"]) == 1
    (fault,) = parent.faults()
    assert fault.key == "duplicate_child:hall-a" and "runs run-3 and run-2" in fault.text
    assert "site.gateways.child_id" in fault.text
    clock.now_s += 61.0
    send("run-2")
    assert parent.faults() == ()


def test_a_child_names_its_run_in_its_demands() -> None:
    child, _, link, _ = _child()
    other, _, other_link, _ = _child()
    child.report()
    other.report()
    one = parse_demand(link.sent[-1][1], "hall-a").instance
    two = parse_demand(other_link.sent[-1][1], "hall-a").instance
    assert one and two and one != two
