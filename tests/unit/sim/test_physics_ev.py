"""EV physics: follows the offer with a delay, tapers, stops when full, counts energy."""

from __future__ import annotations

import pytest

from edge_controller.sim.physics_ev import Ev, EvProfile, taper_limit_a

V = 230.0


def _charging_ev(**profile: float) -> Ev:
    ev = Ev(EvProfile(**profile), now_s=0.0)  # type: ignore[arg-type]
    ev.step(0.0, 16.0, V)
    return ev


def test_draws_offer_after_its_response_delay_only() -> None:
    ev = _charging_ev(response_delay_s=3.0, max_current_a=32.0)
    assert ev.drawn_a == 0.0
    ev.step(2.9, 16.0, V)
    assert ev.drawn_a == 0.0
    ev.step(3.0, 16.0, V)
    assert ev.drawn_a == 16.0


def test_follows_a_lowered_offer_within_the_delay() -> None:
    ev = _charging_ev(response_delay_s=2.0, max_current_a=32.0)
    ev.step(2.0, 16.0, V)
    ev.step(10.0, 10.0, V)  # offer lowered at t=10
    assert ev.drawn_a == 16.0  # still on the old offer: IEC 61851 allows up to 5 s
    ev.step(12.0, 10.0, V)
    assert ev.drawn_a == 10.0


def test_never_draws_more_than_its_onboard_charger() -> None:
    ev = _charging_ev(response_delay_s=0.0, max_current_a=13.0)
    ev.step(1.0, 32.0, V)
    assert ev.drawn_a == 13.0


def test_offer_below_six_amps_or_zero_stops_at_once() -> None:
    ev = _charging_ev(response_delay_s=4.0)
    ev.step(4.0, 16.0, V)
    assert ev.drawn_a == 16.0
    ev.step(5.0, 0.0, V)
    assert ev.drawn_a == 0.0
    assert not ev.requests_charge(5.0)


def test_energy_and_soc_integrate_drawn_power() -> None:
    ev = _charging_ev(response_delay_s=0.0, phases=3, battery_wh=50_000.0, soc=0.2)
    ev.step(0.0, 16.0, V)
    delivered = ev.step(3600.0, 16.0, V)
    assert delivered == pytest.approx(16.0 * 3 * V)
    assert ev.soc == pytest.approx(0.2 + 16.0 * 3 * V / 50_000.0)


def test_single_phase_ev_uses_one_phase_for_energy() -> None:
    ev = _charging_ev(response_delay_s=0.0, phases=1)
    ev.step(0.0, 16.0, V)
    assert ev.step(3600.0, 16.0, V) == pytest.approx(16.0 * V)


def test_taper_lowers_current_near_full_and_stops_at_target() -> None:
    profile = EvProfile(max_current_a=16.0, taper_start_soc=0.8, target_soc=1.0)
    assert taper_limit_a(profile, 0.5) == 16.0
    assert taper_limit_a(profile, 0.9) == pytest.approx(8.0)
    assert taper_limit_a(profile, 1.0) == 0.0
    ev = _charging_ev(response_delay_s=0.0, soc=0.99, battery_wh=1000.0)
    ev.step(0.0, 16.0, V)
    for second in range(1, 3600):
        ev.step(float(second), 16.0, V)
    assert ev.soc == pytest.approx(1.0)
    assert not ev.wants_charge
    assert ev.drawn_a == 0.0


def test_paused_ev_draws_nothing() -> None:
    ev = _charging_ev(response_delay_s=0.0)
    ev.step(1.0, 16.0, V)
    ev.paused = True
    ev.step(2.0, 16.0, V)
    assert ev.drawn_a == 0.0


def test_an_ev_with_an_overdraw_draws_that_over_its_offer_while_it_charges() -> None:
    ev = _charging_ev(response_delay_s=0.0, max_current_a=16.0, overdraw_a=0.5)
    ev.step(1.0, 10.0, V)
    assert ev.drawn_a == 10.5
    ev.step(2.0, 16.0, V)
    assert ev.drawn_a == 16.5  # over its own maximum too: the offer is what it overshoots
    ev.paused = True
    ev.step(3.0, 16.0, V)
    assert ev.drawn_a == 0.0


@pytest.mark.parametrize(
    "bad",
    [
        {"phases": 4},
        {"response_delay_s": 6.0},
        {"soc": 1.5},
        {"battery_wh": 0.0},
        {"overdraw_a": -0.1},
    ],
)
def test_profile_rejects_impossible_values(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EvProfile(**bad)  # type: ignore[arg-type]


def test_each_lowering_is_followed_its_delay_after_it_even_when_another_follows() -> None:
    # IEC 61851-1: a lower offer is followed within the delay of that change. A second
    # lowering 2 s later must not put off the first (it did: 30 A drawn for 7 s against 29 A).
    ev = _charging_ev(response_delay_s=5.0, max_current_a=32.0)
    ev.step(5.0, 32.0, V)
    ev.step(10.0, 32.0, V)
    assert ev.drawn_a == 32.0
    ev.step(10.0, 30.0, V)
    ev.step(12.0, 29.0, V)
    ev.step(14.9, 29.0, V)
    assert ev.drawn_a == 32.0
    ev.step(15.0, 29.0, V)
    assert ev.drawn_a == 30.0  # the first lowering, 5 s after it
    ev.step(16.9, 29.0, V)
    assert ev.drawn_a == 30.0
    ev.step(17.0, 29.0, V)
    assert ev.drawn_a == 29.0  # the second, 5 s after it


def test_an_offer_back_to_what_it_was_is_a_change_too() -> None:
    ev = _charging_ev(response_delay_s=2.0, max_current_a=32.0)
    ev.step(2.0, 16.0, V)
    ev.step(3.0, 10.0, V)
    ev.step(4.0, 16.0, V)  # raised back before the lowering was followed
    ev.step(5.0, 16.0, V)
    assert ev.drawn_a == 10.0  # the lowering, 2 s after it
    ev.step(6.0, 16.0, V)
    assert ev.drawn_a == 16.0
