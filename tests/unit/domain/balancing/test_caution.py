"""The cautious pairing of our own readings with the grid's, and the increases it holds back."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_controller.domain.balancing import (
    Allocation,
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    GridReading,
    Site,
)
from edge_controller.domain.balancing.caution import (
    DecreaseHold,
    Sample,
    bracketed,
    draw_around,
    explained,
    hold_unconfirmed_decreases,
    hold_unconfirmed_increases,
    lowers,
    most_drawn,
    ramp_unseen,
    unraised_rise,
    within_limits,
)
from edge_controller.domain.model import Phases3

GRID_AT_10 = Sample(10.0, 10.05, (40.0, 40.0, 40.0))


def _reading(started_s: float, amps: float) -> Sample:
    return Sample(started_s, started_s + 0.3, (amps, amps, amps))


def test_our_draw_around_a_grid_reading_is_the_lowest_from_before_to_after() -> None:
    # The EV dipped to 0 A in between (a pause and a resume): the reading in between shows it.
    samples = [_reading(8.0, 16.0), _reading(9.0, 16.0), _reading(9.9, 0.0), _reading(10.5, 16.0)]
    assert draw_around(samples, GRID_AT_10) == (0.0, 0.0, 0.0)
    # A reading begun before the grid reading arrived is no "after": without one, no pairing.
    assert draw_around(samples[:3], GRID_AT_10) is None
    assert draw_around(samples[2:], GRID_AT_10) is None  # and none done before it started


def test_our_highest_draw_around_a_grid_reading_confirms_decreases() -> None:
    # The EV ramped from 6 to 12 A around the grid reading: at its highest, our draw leaves the
    # building no heavier than it was.
    samples = [_reading(8.0, 6.0), _reading(9.0, 6.0), _reading(9.9, 9.0), _reading(10.5, 12.0)]
    assert draw_around(samples, GRID_AT_10, highest=True) == (12.0, 12.0, 12.0)
    assert draw_around(samples, GRID_AT_10) == (6.0, 6.0, 6.0)
    grids = [Sample(9.0, 9.05, (20.0,) * 3), GRID_AT_10]  # type: ignore[arg-type]
    assert bracketed(grids, [samples], highest=True) == (GRID_AT_10, [(12.0, 12.0, 12.0)])


def test_a_reading_in_the_same_instant_as_the_grid_reading_brackets_it_alone() -> None:
    instant = Sample(10.0, 10.0, (5.0, 6.0, 7.0))
    grid = Sample(10.0, 10.0, (40.0, 40.0, 40.0))
    assert draw_around([instant], grid) == (5.0, 6.0, 7.0)


def test_the_newest_grid_reading_every_connector_brackets_is_taken() -> None:
    older, newer = Sample(8.0, 8.05, (30.0,) * 3), GRID_AT_10  # type: ignore[arg-type]
    quick = [_reading(7.0, 10.0), _reading(8.5, 12.0), _reading(9.0, 12.0), _reading(10.5, 14.0)]
    slow = [_reading(7.0, 20.0), _reading(9.0, 18.0)]  # nothing begun after 10.05 yet
    found = bracketed([older, newer], [quick, slow])
    assert found is not None
    grid, draws = found
    assert grid is older and draws == [(10.0, 10.0, 10.0), (18.0, 18.0, 18.0)]
    assert bracketed([newer], [quick, slow]) is None


def _bracketed_by_definition(
    grids: list[Sample], draws: list[list[Sample]]
) -> tuple[Sample, list[tuple[float, float, float]]] | None:
    """Every connector's draw around each grid reading, newest first, the first all have."""
    for grid in reversed(grids):
        found = [draw_around(samples, grid) for samples in draws]
        if all(draw is not None for draw in found):
            return grid, [draw for draw in found if draw is not None]
    return None


_times = st.lists(st.integers(0, 40), max_size=6).map(lambda ts: sorted(t / 4 for t in ts))


@given(_times, st.lists(_times, max_size=5))
def test_the_pairing_stops_at_the_first_unbracketed_connector_with_the_same_answer(
    grid_starts: list[float], connectors: list[list[float]]
) -> None:
    grids = [Sample(t, t + 0.05, (40.0,) * 3) for t in grid_starts]  # type: ignore[arg-type]
    draws = [[_reading(t, t * 2) for t in starts] for starts in connectors]
    assert bracketed(grids, draws) == _bracketed_by_definition(grids, draws)


def _allocation(at_s: float, *entries: ConnectorAllocation) -> Allocation:
    return Allocation(at_s, {e.connector_id: e for e in entries}, (0.0,) * 3, (0.0,) * 3, False)


def test_a_start_held_back_names_what_binds_and_starts_no_pause() -> None:
    previous = _allocation(0.0, ConnectorAllocation("c1:1", 0.0, "paused: grid L1 32 A full"))
    normal = _allocation(5.0, ConnectorAllocation("c1:1", 10.0, "grid L1 32 A", 5.0, 5.0, 10.0))
    cautious = _allocation(5.0, ConnectorAllocation("c1:1", 0.0, "paused: grid L1 32 A full"))
    held = hold_unconfirmed_increases(normal, cautious, previous).connectors["c1:1"]
    assert held.current_a == 0.0
    assert held.reason == "paused: grid L1 32 A full; waiting for a grid reading after the ramp"
    # Not a switch from charging to paused: no minimum pause follows, no ramp limit starts.
    assert (held.changed_at_s, held.increased_at_s) == (float("-inf"), float("-inf"))


def _offers(at_s: float, **offers_a: float) -> Allocation:
    return _allocation(
        at_s, *(ConnectorAllocation(f"{cid}:1", a, f"{cid} {a:g}") for cid, a in offers_a.items())
    )


PREVIOUS = _offers(0.0, c1=12.0, c2=12.0)


def test_a_decrease_the_paired_readings_do_not_show_keeps_its_record() -> None:
    normal = _offers(5.0, c1=6.0, c2=6.0)
    held = hold_unconfirmed_decreases(normal, _offers(5.0, c1=12.0, c2=12.0), PREVIOUS)
    assert held.connectors == PREVIOUS.connectors  # the same records: no settling, no switch
    assert lowers(normal, PREVIOUS) and not lowers(held, PREVIOUS)


def test_a_decrease_the_paired_readings_show_in_part_goes_as_far_as_they_show() -> None:
    normal = _offers(5.0, c1=6.0, c2=6.0)
    confirming = _offers(5.0, c1=9.0, c2=14.0)
    held = hold_unconfirmed_decreases(normal, confirming, PREVIOUS)
    assert held.connectors["c1:1"] is confirming.connectors["c1:1"]
    assert held.connectors["c2:1"] is PREVIOUS.connectors["c2:1"]  # never above the previous
    assert (held.building_load_a, held.headroom_a) == (
        confirming.building_load_a,
        confirming.headroom_a,
    )


@pytest.mark.parametrize(
    ("normal", "confirming"),
    [
        pytest.param(_offers(5.0, c1=6.0, c2=6.0), _offers(5.0, c1=6.0, c2=6.0), id="confirmed"),
        pytest.param(
            _offers(5.0, c1=0.0, c2=16.0), _offers(5.0, c1=12.0, c2=16.0), id="another-rises"
        ),
        pytest.param(
            _offers(5.0, c1=6.0, c2=12.0), _offers(5.0, c1=12.0, c2=9.0), id="above-confirming"
        ),
    ],
)
def test_decreases_go_out_as_decided(normal: Allocation, confirming: Allocation) -> None:
    # Confirmed; current moved to another connector; or an offer above what the paired
    # readings allow (holding the rest could then over-commit): nothing is held.
    assert hold_unconfirmed_decreases(normal, confirming, PREVIOUS) is normal
    assert hold_unconfirmed_decreases(normal, confirming, None) is normal


BUDGET = Site(grid_limit_a=32.0, phase_limits_a=(24.0, 32.0, 32.0))
POWER = Site(grid_limit_a=32.0, power_limit_w=230.0 * 60.0)


LEVEL = (20.0, 20.0, 20.0)
BEFORE = GridReading(LEVEL, 9.0)  # the reading a decrease was first held on


@pytest.mark.parametrize(
    ("site", "grid_a", "now_s", "hold", "allowed"),
    [
        pytest.param(BUDGET, (24.0, 32.0, 32.0), 10.1, (None, None), True, id="at-the-limits"),
        pytest.param(BUDGET, (24.1, 10.0, 10.0), 10.1, (None, None), False, id="one-phase-over"),
        pytest.param(POWER, LEVEL, 10.1, (None, None), True, id="at-the-power-limit"),
        pytest.param(POWER, (20.0, 20.0, 20.1), 10.1, (None, None), False, id="power-over"),
        pytest.param(BUDGET, LEVEL, 13.1, (None, None), False, id="grid-reading-old"),
        pytest.param(
            BUDGET, LEVEL, 10.9, (GridReading(LEVEL, 10.0), 8.0), True, id="held-on-this-reading"
        ),
        # A later reading: held on while our readings do not bracket the one held on yet...
        pytest.param(BUDGET, LEVEL, 10.1, (BEFORE, 8.0), True, id="held-on-the-last-one"),
        pytest.param(BUDGET, LEVEL, 10.1, (BEFORE, None), True, id="none-bracketed"),
        # ... no longer once they do, once the grid reads more than then, or once it is old.
        pytest.param(BUDGET, LEVEL, 10.1, (BEFORE, 9.0), False, id="the-readings-pair-now"),
        pytest.param(
            BUDGET, (20.0, 20.5, 20.0), 10.1, (BEFORE, 8.0), False, id="the-grid-rose-since"
        ),
        pytest.param(
            BUDGET, LEVEL, 12.1, (BEFORE, 8.0), False, id="held-on-one-older-than-the-window"
        ),
    ],
)
def test_decreases_wait_within_the_limits_until_the_readings_pair(
    site: Site,
    grid_a: tuple[float, float, float],
    now_s: float,
    hold: tuple[GridReading | None, float | None],
    allowed: bool,
) -> None:
    # ``hold``: the grid reading the last step held decreases on, and the time of the newest
    # one our readings bracket.
    grid = GridReading(grid_a, 10.0)
    hold_ = DecreaseHold(fresh_s=3.0)
    assert hold_.allows(grid, site, now_s, *hold, unraised_a=(0.0, 0.0, 0.0)) is allowed


@pytest.mark.parametrize(
    ("site", "unraised_a", "allowed"),
    [
        pytest.param(BUDGET, (4.0, 12.0, 12.0), True, id="up-to-the-limits"),
        pytest.param(BUDGET, (4.5, 0.0, 0.0), False, id="over-one-phase"),
        pytest.param(POWER, (0.0, 0.0, 0.0), True, id="up-to-the-power-limit"),
        pytest.param(POWER, (0.0, 0.0, 0.5), False, id="over-the-power-limit"),
    ],
)
def test_decreases_wait_only_while_what_the_others_could_add_fits(
    site: Site, unraised_a: tuple[float, float, float], allowed: bool
) -> None:
    # The grid at 20 A a phase; ``unraised_a``: what the connectors not raised lately could
    # still add by drawing up to their offers (a paused EV resuming). The hold bets only on
    # the ramps of those raised: with the others at their offers the site must stay within.
    grid = GridReading(LEVEL, 10.0)
    hold = DecreaseHold(fresh_s=3.0)
    assert hold.allows(grid, site, 10.1, None, None, unraised_a=unraised_a) is allowed
    # The same on a later reading of a hold under way.
    assert hold.allows(grid, site, 10.1, BEFORE, 8.0, unraised_a=unraised_a) is allowed


def test_what_the_connectors_not_raised_lately_could_add() -> None:
    offers = Allocation(
        10.0,
        {
            "paused": ConnectorAllocation("paused", 12.0, "", increased_at_s=1.0),
            "below": ConnectorAllocation("below", 16.0, "", increased_at_s=1.0),
            "raised": ConnectorAllocation("raised", 24.0, "", increased_at_s=8.0),
            "unread": ConnectorAllocation("unread", 6.0, "", increased_at_s=1.0),
            "one-phase": ConnectorAllocation("one-phase", 10.0, "", increased_at_s=1.0),
            "over": ConnectorAllocation("over", 6.0, "", increased_at_s=1.0),
        },
        (0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        grid_stale=False,
    )
    demands = [
        ConnectorDemand("paused", DemandState.CHARGING, measured_current_a=(0.0, 0.0, 0.0)),
        ConnectorDemand("below", DemandState.CHARGING, measured_current_a=(10.0, 11.0, 12.0)),
        ConnectorDemand("raised", DemandState.CHARGING, measured_current_a=(12.0, 12.0, 12.0)),
        ConnectorDemand("unread", DemandState.CHARGING),
        # A one-phase EV on a charger whose L1 lands on grid L2.
        ConnectorDemand(
            "one-phase",
            DemandState.CHARGING,
            wiring=(1, 2, 0),
            ev_phases=1,
            measured_current_a=(4.0, 0.0, 0.0),
        ),
        ConnectorDemand("over", DemandState.CHARGING, measured_current_a=(7.0, 7.0, 7.0)),
    ]
    # The paused EV its whole offer, the one below its offer the rest, the unread one its
    # whole offer; the one raised since 7 s nothing, nor the one drawing above its offer.
    added = unraised_rise(demands, offers, raised_since_s=7.0)
    assert added == (12.0 + 6.0 + 6.0, 12.0 + 5.0 + 6.0 + 6.0, 12.0 + 4.0 + 6.0)
    # Beyond the next grid reading a raised one read at 0 A counts too (paused, or starting);
    # one raised and drawing does not.
    idle = [
        replace(d, measured_current_a=(0.0, 0.0, 0.0)) if d.connector_id == "raised" else d
        for d in demands
    ]
    assert unraised_rise(idle, offers, 7.0, idle_raised=True) == tuple(a + 24.0 for a in added)
    assert unraised_rise(demands, offers, 7.0, idle_raised=True) == added
    # A raised one whose EV paused itself once the raise reached it (state B, or state C at
    # 0 A) counts from the first grid reading: it would resume into a real rise.
    assert unraised_rise(idle, offers, 7.0, paused_itself=("raised",)) == tuple(
        a + 24.0 for a in added
    )
    assert unraised_rise(demands, offers, 7.0, paused_itself=("raised",)) == tuple(
        a + 12.0 for a in added
    )


# A start (three-phase, first phase L1) raised on a building of 18.4, 6.9, 18.4 A and read at
# nothing: where the building as read now rose more on another of its phases than on L1, the
# grid reading cannot show its ramp (a held decrease must not bet on it); risen alike, or read
# drawing (a torn reading of its ramp), or raised without a reading of the building, it may.
@pytest.mark.parametrize(
    ("building_a", "draw_a", "raised_on_a", "unseen"),
    [
        ((11.5, 13.3, 13.3), (0.0, 0.0, 0.0), (18.4, 6.9, 18.4), True),
        ((25.2, 13.3, 25.2), (0.0, 0.0, 0.0), (18.4, 6.9, 18.4), False),
        ((18.4, 6.9, 27.0), (6.8, 6.8, 0.0), (18.4, 6.9, 18.4), False),
        ((11.5, 13.3, 13.3), (0.0, 0.0, 0.0), None, False),
    ],
    ids=["building rise", "risen alike", "drawing", "no reading"],
)
def test_a_start_whose_ramp_the_grid_reading_cannot_show(
    building_a: Phases3, draw_a: Phases3, raised_on_a: Phases3 | None, unseen: bool
) -> None:
    entry = ConnectorAllocation("c3", 6.8, "", increased_at_s=19.0, raised_on_a=raised_on_a)
    demand = ConnectorDemand("c3", DemandState.CHARGING, measured_current_a=draw_a)
    assert ramp_unseen(entry, demand, building_a) is unseen


def test_the_most_our_connectors_can_draw_and_what_it_explains() -> None:
    offers = Allocation(
        10.0,
        {
            "ramping": ConnectorAllocation("ramping", 12.0, "", increased_at_s=8.0),
            "following": ConnectorAllocation("following", 6.0, "", assumed_current_a=16.0),
            "above": ConnectorAllocation("above", 6.0, ""),
        },
        (0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        grid_stale=False,
    )
    demands = [
        ConnectorDemand("ramping", DemandState.CHARGING, measured_current_a=(6.0, 6.0, 6.0)),
        # Still following a decrease from 16 A: it may draw its earlier offer.
        ConnectorDemand("following", DemandState.CHARGING, measured_current_a=(9.0, 9.0, 9.0)),
        # A one-phase charger on grid L3, read above its offer.
        ConnectorDemand(
            "above", DemandState.CHARGING, wiring=(2,), measured_current_a=(7.0, 0.0, 0.0)
        ),
    ]
    assert most_drawn(demands, offers) == (28.0, 28.0, 35.0)
    # 5 A of building at the paired reading: a reading up to 33 / 33 / 40 A (1 A more with
    # the margin) may be our ramps; one above on any phase is the building's.
    assert explained((34.0, 33.0, 41.0), (5.0, 5.0, 5.0), (28.0, 28.0, 35.0), 1.0)
    assert not explained((34.1, 20.0, 20.0), (5.0, 5.0, 5.0), (28.0, 28.0, 35.0), 1.0)


def test_within_the_limits_means_at_or_under_every_one() -> None:
    assert within_limits((32.0, 32.0, 32.0), Site(grid_limit_a=32.0))
    assert not within_limits((10.0, 32.5, 10.0), Site(grid_limit_a=32.0))
    assert not within_limits((24.5, 10.0, 10.0), BUDGET)  # a child's budget on L1


def test_within_the_limits_with_a_margin_allows_that_much_over_each() -> None:
    power = Site(grid_limit_a=40.0, power_limit_w=60 * 230.0)  # 60 A in all
    assert within_limits((20.0, 20.0, 20.05), power, margin_a=0.1)
    assert not within_limits((20.0, 20.0, 20.15), power, margin_a=0.1)
    assert within_limits((32.05, 10.0, 10.0), Site(grid_limit_a=32.0), margin_a=0.1)
    assert not within_limits((10.0, 32.15, 10.0), Site(grid_limit_a=32.0), margin_a=0.1)
