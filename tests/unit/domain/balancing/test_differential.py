"""The optimised ``allocate()`` decides exactly like the plain reference formulation: same offers,
reasons, timestamps, headroom and notes, bit for bit, over random sites and multi-step stories."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_controller.domain.balancing import (
    Allocation,
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    Policy,
    Site,
    allocate,
    classes,
)
from edge_controller.domain.model import Limit
from tests.unit.domain.balancing.reference.allocate import allocate as reference_allocate
from tests.unit.domain.balancing.test_properties import amps, cases

Case = tuple[Site, list[ConnectorDemand], GridReading | None, Policy]
STATES = list(DemandState)


def _same(got: Allocation, want: Allocation) -> None:
    assert list(got.connectors.items()) == list(want.connectors.items())
    assert got == want


def _story(
    site: Site,
    ds: list[ConnectorDemand],
    steps: Sequence[tuple[float, GridReading | None]],
    policy: Policy,
    rng: random.Random,
) -> int:
    """Runs both implementations side by side; returns how many steps offered current. A step's
    ``grid.at_s`` is the reading's age in seconds (mod 15, so some are stale)."""
    previous: Allocation | None = None
    now_s, charged = 0.0, 0
    for dt_s, step_grid in steps:
        now_s += dt_s
        grid = None
        if step_grid is not None:
            grid = GridReading(step_grid.current_a, now_s - step_grid.at_s % 15)
        want = reference_allocate(
            site, ds, grid=grid, previous=previous, now_s=now_s, policy=policy
        )
        got = allocate(site, ds, grid=grid, previous=previous, now_s=now_s, policy=policy)
        _same(got, want)
        charged += any(c.current_a > 0 for c in got.connectors.values())
        previous = got
        ds = [_drift(d, rng) for d in ds]
    return charged


def _drift(demand: ConnectorDemand, rng: random.Random) -> ConnectorDemand:
    """Between steps an EV may arrive, leave, stop answering, or change what it draws."""
    roll = rng.random()
    if roll < 0.15:
        return replace(demand, state=rng.choice(STATES))
    if roll < 0.25:
        return replace(demand, ev_phases=rng.choice([None, 1, 2, 3]))
    if roll < 0.35:
        return replace(demand, measured_current_a=None)
    return demand


@settings(max_examples=150, deadline=None)
@given(
    cases(),
    st.lists(st.tuples(st.floats(0, 400), st.none() | st.tuples(amps, amps, amps)), max_size=8),
    st.integers(0, 2**32),
)
def test_matches_reference_on_random_stories(
    case: Case, later: list[tuple[float, tuple[float, float, float] | None]], seed: int
) -> None:
    site, ds, grid, policy = case
    steps = [(20.0, grid)]
    steps += [(dt_s, None if a is None else GridReading(a, 0.0)) for dt_s, a in later]
    _story(site, ds, steps, policy, random.Random(seed))


@settings(max_examples=40, deadline=None)
@given(cases(), st.floats(0, 20), st.floats(0, 5), st.sampled_from([0.0, 0.1, 0.5]))
def test_matches_reference_with_other_policies(
    case: Case, interval_s: float, min_increase_a: float, resolution_a: float
) -> None:
    site, ds, grid, _ = case
    policy = Policy(
        increase_interval_s=interval_s,
        min_increase_a=min_increase_a,
        resolution_a=resolution_a or 0.1,
        min_pause_s=interval_s * 3,
        min_charge_s=interval_s * 2,
        rotation_interval_s=interval_s * 10,
        decrease_settle_s=interval_s,
    )
    steps = [(dt_s, grid) for dt_s in (20.0, 1.0, 6.0, 30.0, 200.0, 3.0)]
    _story(site, ds, steps, policy, random.Random(7))


def _big_site(count: int, rng: random.Random) -> tuple[Site, list[ConnectorDemand]]:
    """Nested feeders, every wiring, tight limits: water-filling binds at many nodes at once."""
    feeders: list[Feeder] = []
    for number in range(count // 8):
        parent = rng.choice([None, None] + [f.id for f in feeders[-6:]])
        feeders.append(Feeder(f"F{number}", rng.choice([16.0, 32.0, 40.0, 63.0]), parent))
    power_w = rng.choice([None, count * 2500.0])
    site = Site(count * rng.uniform(3, 12), tuple(feeders), power_limit_w=power_w)
    wirings = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0,), (1,), (2,)]
    demands = [
        ConnectorDemand(
            connector_id=f"c{i}:1",
            state=rng.choice(STATES + [DemandState.CHARGING] * 4),
            wiring=rng.choice(wirings),
            feeder=rng.choice([None] + [f.id for f in feeders]),
            ev_phases=rng.choice([None, 1, 2, 3]),
            min_current_a=rng.choice([6.0, 8.0]),
            max_current_a=rng.choice([10.0, 16.0, 32.0]),
            limits=(Limit(rng.uniform(0, 32), f"csms profile {i}"),) if i % 6 == 0 else (),
            measured_current_a=rng.choice([None, (6.0, 6.0, 6.0), (16.0, 0.0, 0.0)]),
            priority=rng.choice([0, 0, 1, 2]),
            session_start_s=rng.choice([None, float(i)]),
            session_energy_wh=rng.uniform(0, 30000),
            enabled=rng.random() > 0.05,
        )
        for i in range(count)
    ]
    return site, demands


def test_matches_reference_on_large_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both ways through admission are taken: the full steps and the short cut (steady state).
    full = _count_calls(monkeypatch, classes, "admit")
    stories_with_current, steps_run = 0, 0
    for seed in range(6):
        rng = random.Random(seed)
        site, ds = _big_site(rng.choice([60, 300, 1000]), rng)
        grid = GridReading((site.grid_limit_a / 3,) * 3, 0.0)
        steps = [(dt_s, grid) for dt_s in (0.0, 2.0, 7.0, 70.0, 1000.0, 0.5, 4.0)]
        stories_with_current += _story(site, ds, steps, Policy(), rng) > 0
        steps_run += len(steps)
    # A site with room for every EV: the steady state, where admission is skipped.
    rng = random.Random(99)
    site, ds = _big_site(300, rng)
    feeders = tuple(replace(f, limit_a=f.limit_a * 100) for f in site.feeders)
    roomy = Site(site.grid_limit_a * 10, feeders)
    grid = GridReading((0.0, 0.0, 0.0), 0.0)
    steps = [(dt_s, grid) for dt_s in (0.0, 2.0, 7.0, 70.0)]
    stories_with_current += _story(roomy, ds, steps, Policy(), rng) > 0
    steps_run += len(steps)
    assert stories_with_current > 0
    assert 0 < full.count < steps_run


def test_a_later_class_pushed_over_by_rounding_is_filled_from_an_exact_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first class's offer rounds up past its cap (0.29999999 → 0.3): the outlook for the
    # second class sees the limit reached and resumes the full steps from a replayed budget.
    replays = _count_calls(monkeypatch, classes, "_replay")
    site = Site(grid_limit_a=6.299998995)
    capped = Limit(0.29999999, "csms profile 1")
    ds = [
        ConnectorDemand("a:1", DemandState.CHARGING, wiring=(0,), min_current_a=0.1,
                        limits=(capped,), priority=1),
        ConnectorDemand("b:1", DemandState.CHARGING, wiring=(0,), min_current_a=0.1,
                        max_current_a=6.0),
    ]  # fmt: skip
    grid = GridReading((0.0, 0.0, 0.0), 0.0)
    got = allocate(site, ds, grid=grid, previous=None, now_s=0.0)
    _same(got, reference_allocate(site, ds, grid=grid, previous=None, now_s=0.0))
    assert replays.count == 1
    assert got.current_a("a:1") == 0.3
    assert got.current_a("b:1") == 5.9  # bound by the grid, not by its own 6 A


def test_power_used_up_by_the_minimums_names_the_power_limit() -> None:
    # No power is left once both minimums are taken (14 A of phase-amps): water-filling stops
    # at the lowest floor, and the power limit becomes the reason of the connector above it.
    site = Site(grid_limit_a=100.0, power_limit_w=14 * 230.0)
    ds = [
        ConnectorDemand("a:1", DemandState.CHARGING, wiring=(0,), min_current_a=6.0,
                        limits=(Limit(6.0, "csms profile 1"),)),
        ConnectorDemand("b:1", DemandState.CHARGING, wiring=(1,), min_current_a=8.0,
                        limits=(Limit(8.0, "csms profile 2"),)),
    ]  # fmt: skip
    grid = GridReading((0.0, 0.0, 0.0), 0.0)
    got = allocate(site, ds, grid=grid, previous=None, now_s=0.0)
    _same(got, reference_allocate(site, ds, grid=grid, previous=None, now_s=0.0))
    assert (got.current_a("a:1"), got.current_a("b:1")) == (6.0, 8.0)
    assert got.connectors["a:1"].reason == "csms profile 1"
    assert got.connectors["b:1"].reason == "grid power 3220 W"


class _Calls:
    def __init__(self) -> None:
        self.count = 0


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> _Calls:
    calls, real = _Calls(), getattr(module, name)

    def counted(*args: object) -> object:
        calls.count += 1
        return real(*args)

    monkeypatch.setattr(module, name, counted)
    return calls
