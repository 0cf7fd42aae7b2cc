"""Property-based tests: the invariants hold on random sites, readings and connector sets."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_controller.domain.balancing import (
    Allocation,
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    OfferRecords,
    Policy,
    Site,
    allocate,
)
from edge_controller.domain.model import Limit
from tests.unit.domain.balancing.invariants import _limits, _subtree, check_all, node_loads
from tests.unit.domain.balancing.scenario_io import WIRING

RES_A = 0.1
amps = st.floats(min_value=0, max_value=150, allow_nan=False)


@st.composite
def sites(draw: st.DrawFn) -> Site:
    feeders: list[Feeder] = []
    for number in range(draw(st.integers(0, 4))):
        parent = draw(st.sampled_from([None] + [f.id for f in feeders]))
        feeders.append(Feeder(f"F{number}", draw(st.floats(6, 100)), parent))
    power = draw(st.none() | st.floats(min_value=2000, max_value=80000))
    return Site(grid_limit_a=draw(st.floats(6, 200)), feeders=tuple(feeders), power_limit_w=power)


@st.composite
def demands(draw: st.DrawFn, site: Site) -> list[ConnectorDemand]:
    result = []
    for number in range(draw(st.integers(1, 14))):
        min_a = draw(st.sampled_from([6.0, 6.0, 8.0, 10.0]))
        limits = draw(st.lists(st.floats(0, 40), max_size=2))
        state = draw(st.sampled_from(list(DemandState)))
        wiring = draw(st.sampled_from(sorted(WIRING.values())))
        measured = draw(st.none() | st.tuples(amps, amps, amps))
        result.append(
            ConnectorDemand(
                connector_id=f"c{number}:1",
                state=state,
                wiring=wiring,
                feeder=draw(st.sampled_from([None] + [f.id for f in site.feeders])),
                ev_phases=draw(st.none() | st.integers(1, 3)),
                min_current_a=min_a,
                max_current_a=draw(st.floats(min_a, 40)),
                limits=tuple(Limit(a, f"csms profile {i}") for i, a in enumerate(limits)),
                measured_current_a=measured,
                priority=draw(st.integers(0, 2)),
                session_energy_wh=draw(st.floats(0, 50000)),
                enabled=draw(st.booleans()),
            )
        )
    return result


@st.composite
def cases(draw: st.DrawFn) -> tuple[Site, list[ConnectorDemand], GridReading | None, Policy]:
    site = draw(sites())
    grid = draw(st.none() | st.builds(GridReading, st.tuples(amps, amps, amps), st.floats(0, 30)))
    policy = Policy(fallback_current_a=draw(st.sampled_from([0.0, 6.0, 10.0])))
    return site, draw(demands(site)), grid, policy


def _constraints(site: Site, demand: ConnectorDemand) -> list[tuple[str | None, int, float]]:
    """(node, phase, limit) of every per-phase limit the connector's EV loads."""
    found = []
    for node, limit in _limits(site):
        if demand.feeder in _subtree(site, node):
            found += [(node, phase, limit) for phase in demand.grid_phases]
    return found


def _tight(site: Site, ds: list[ConnectorDemand], alloc: Allocation, d: ConnectorDemand) -> bool:
    slack_a = RES_A * len(ds) + 1e-6
    for node, phase, limit in _constraints(site, d):
        if node_loads(site, ds, alloc, node)[phase] > limit - slack_a:
            return True
    if site.power_limit_w is None:
        return False
    total_a = sum(node_loads(site, ds, alloc, None))
    return total_a > site.power_limit_w / site.nominal_voltage_v - slack_a * 3


def _own_cap(d: ConnectorDemand, alloc: Allocation, policy: Policy) -> float:
    caps = [d.max_current_a] + [lim.current_a for lim in d.limits]
    if alloc.grid_stale:
        caps.append(policy.fallback_current_a)
    return min(caps)


def _run(case: tuple[Site, list[ConnectorDemand], GridReading | None, Policy]) -> Allocation:
    site, ds, grid, policy = case
    return allocate(site, ds, grid=grid, previous=None, now_s=20.0, policy=policy)


@settings(max_examples=120, deadline=None)
@given(cases())
def test_limits_min_max_and_external_limits_hold(case: tuple) -> None:  # type: ignore[type-arg]
    site, ds, _, _ = case
    alloc = _run(case)
    check_all(site, ds, alloc)
    assert alloc == _run(case)  # deterministic


@settings(max_examples=120, deadline=None)
@given(cases())
def test_nobody_below_a_peer_unless_capped(case: tuple) -> None:  # type: ignore[type-arg]
    site, ds, _, policy = case
    alloc = _run(case)
    for low in ds:
        low_a = alloc.current_a(low.connector_id)
        if low_a <= 0 or low_a >= _own_cap(low, alloc, policy) - RES_A - 1e-6:
            continue
        for high in ds:
            high_a = alloc.current_a(high.connector_id)
            if high.priority == low.priority and high_a > low_a + RES_A + 1e-6:
                assert _tight(site, ds, alloc, low), (low, high, alloc.connectors)


@settings(max_examples=120, deadline=None)
@given(cases())
def test_a_paused_ev_could_not_have_had_its_minimum(case: tuple) -> None:  # type: ignore[type-arg]
    site, ds, _, policy = case
    alloc = _run(case)
    for d in ds:
        wants = d.state.wants_current and d.enabled
        if not wants or alloc.current_a(d.connector_id) > 0:
            continue
        if _own_cap(d, alloc, policy) < d.min_current_a:
            continue
        over = any(
            node_loads(site, ds, alloc, node)[phase] + d.min_current_a > limit + 1e-6
            for node, phase, limit in _constraints(site, d)
        )
        if site.power_limit_w is not None:
            total_a = sum(node_loads(site, ds, alloc, None)) + d.min_current_a * len(d.grid_phases)
            over = over or total_a * site.nominal_voltage_v > site.power_limit_w + 1e-3
        assert over, (d, alloc.connectors[d.connector_id])


@settings(max_examples=50, deadline=None)
@given(cases(), st.lists(st.tuples(st.floats(0.5, 400), st.tuples(amps, amps, amps)), max_size=6))
def test_sequences_keep_limits_and_ramp_rate(case: tuple, steps: list) -> None:  # type: ignore[type-arg]
    site, ds, grid, policy = case
    previous, now_s = None, 0.0
    for dt_s, grid_a in [(0.0, grid.current_a if grid else (0.0, 0.0, 0.0)), *steps]:
        now_s += dt_s
        reading = GridReading(grid_a, now_s)
        alloc = allocate(site, ds, grid=reading, previous=previous, now_s=now_s, policy=policy)
        check_all(site, ds, alloc)
        for d in ds:
            before = previous.connectors[d.connector_id] if previous else None
            after = alloc.connectors[d.connector_id]
            if before is not None and after.current_a > before.current_a:
                assert now_s - before.increased_at_s >= policy.increase_interval_s
        previous = alloc
        ds = [replace(d, measured_current_a=None) for d in ds]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(cases(), min_size=1, max_size=3),
    st.lists(
        st.tuples(st.sampled_from([0.5, 3.0, 6.0, 61.0, 1000.0]), st.integers(0, 9)), max_size=5
    ),
)
def test_offer_records_reused_by_a_decision_change_nothing(
    sites: list[tuple],
    steps: list[tuple[float, int]],  # type: ignore[type-arg]
) -> None:
    """Decisions that rewrite the records of the one before (larger and smaller sites in turn,
    connectors paused and started between them) decide as those that make their own."""
    records = OfferRecords()
    for site, first, grid, policy in sites:
        mine = theirs = None
        now_s, ds = 0.0, first
        for dt_s, flipped in [(0.0, -1), *steps]:
            now_s += dt_s
            if 0 <= flipped < len(ds):  # the EV of one connector leaves, or one arrives
                state = DemandState.IDLE if ds[flipped].state.wants_current else DemandState.WAITING
                ds = [*ds[:flipped], replace(ds[flipped], state=state), *ds[flipped + 1 :]]
            mine = allocate(
                site, ds, grid=grid, previous=mine, now_s=now_s, policy=policy, records=records
            )
            theirs = allocate(site, ds, grid=grid, previous=theirs, now_s=now_s, policy=policy)
            assert repr(mine) == repr(theirs)  # (repr: a zero's sign counts too)


def _sharing(site: Site, ds: list[ConnectorDemand], d: ConnectorDemand) -> list[list[str]]:
    """Per constraint the connector loads (its per-phase limits, then the power limit): the
    connectors that load the same constraint."""
    found = []
    for node, phase, _ in _constraints(site, d):
        below = _subtree(site, node)
        found.append([o.connector_id for o in ds if o.feeder in below and phase in o.grid_phases])
    if site.power_limit_w is not None:
        found.append([o.connector_id for o in ds])
    return found


def _tight_constraints(
    site: Site, ds: list[ConnectorDemand], alloc: Allocation, d: ConnectorDemand
) -> list[bool]:
    """Whether each constraint of ``_sharing`` is full (within what rounding down leaves)."""
    slack_a = RES_A * len(ds) + 1e-6
    tight = []
    for node, phase, limit in _constraints(site, d):
        tight.append(node_loads(site, ds, alloc, node)[phase] > limit - slack_a)
    if site.power_limit_w is not None:
        total_a = sum(node_loads(site, ds, alloc, None))
        tight.append(total_a > site.power_limit_w / site.nominal_voltage_v - slack_a * 3)
    return tight


@settings(max_examples=300, deadline=None)
@given(cases())
def test_max_min_fair_no_connector_can_rise_without_lowering_one_that_has_less(
    case: tuple,  # type: ignore[type-arg]
) -> None:
    # A connector below its own cap is held by a full constraint on which nobody of its
    # priority or lower has more (beyond rounding) unless that one sits at its minimum (less
    # would pause it): raising it means lowering one that has no more. Higher priorities are
    # served first and may have more.
    site, ds, _, policy = case
    alloc = _run(case)
    by_id = {d.connector_id: d for d in ds}
    for d in ds:
        offer_a = alloc.current_a(d.connector_id)
        if offer_a <= 0 or offer_a >= _own_cap(d, alloc, policy) - RES_A - 1e-6:
            continue
        held = False
        for members, tight in zip(
            _sharing(site, ds, d), _tight_constraints(site, ds, alloc, d), strict=True
        ):
            if not tight:
                continue
            richer = [
                cid
                for cid in members
                if by_id[cid].priority <= d.priority
                and alloc.current_a(cid) > offer_a + RES_A + 1e-6
                and alloc.current_a(cid) > by_id[cid].min_current_a + 1e-6
            ]
            if not richer:
                held = True
                break
        assert held, (d.connector_id, offer_a, alloc.connectors)
