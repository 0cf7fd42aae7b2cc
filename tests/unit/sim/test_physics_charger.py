"""Charger physics: the A→B→C→B→A state machine, watchdog fallback, counters that only go up."""

from __future__ import annotations

import pytest

from edge_controller.sim.physics_charger import (
    UNPLUG_AFTER_S,
    ChargerHardware,
    ChargerModel,
    Connector,
)
from edge_controller.sim.physics_ev import Ev, EvProfile

V = 230.0
QUICK_EV = EvProfile(phases=3, max_current_a=16.0, response_delay_s=0.0)


def _charger(**config: float) -> ChargerModel:
    return ChargerModel(ChargerHardware(**config))  # type: ignore[arg-type]


def test_full_visit_walks_a_b_c_b_a() -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    seen = []
    charger.step(0.0, V)
    seen.append(charger.connector(1).state)
    charger.plug(1.0, 1, QUICK_EV)
    charger.step(1.0, V)
    seen.append(charger.connector(1).state)
    charger.write_setpoint(2.0, 1, 16.0)
    charger.step(2.0, V)
    seen.append(charger.connector(1).state)
    charger.unplug(3.0, 1)
    charger.step(3.0, V)
    seen.append(charger.connector(1).state)
    charger.step(3.0 + UNPLUG_AFTER_S, V)
    seen.append(charger.connector(1).state)
    assert seen == ["A", "B", "C", "B", "A"]
    assert charger.connector(1).ev is None


def test_setpoint_below_six_amps_pauses_in_state_b() -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    charger.plug(0.0, 1, QUICK_EV)
    charger.write_setpoint(0.0, 1, 16.0)
    charger.step(1.0, V)
    assert charger.connector(1).drawn_a == 16.0
    charger.write_setpoint(2.0, 1, 4.0)
    charger.step(2.0, V)
    assert charger.connector(1).state == "B"
    assert charger.connector(1).offered_a == 0.0
    assert charger.connector(1).drawn_a == 0.0


def test_offer_is_capped_at_the_hardware_maximum() -> None:
    charger = _charger(max_current_a=16.0, watchdog_timeout_s=0.0)
    charger.write_setpoint(0.0, 1, 32.0)
    charger.step(0.0, V)
    assert charger.connector(1).offered_a == 16.0


def test_watchdog_falls_back_to_failsafe_when_writes_stop() -> None:
    charger = _charger(watchdog_timeout_s=10.0, failsafe_current_a=6.0)
    charger.plug(0.0, 1, QUICK_EV)
    charger.write_setpoint(0.0, 1, 16.0)
    charger.step(5.0, V)
    charger.step(10.0, V)
    assert charger.connector(1).offered_a == 16.0
    charger.step(10.5, V)
    assert charger.failsafe_active
    assert charger.connector(1).offered_a == 6.0
    charger.write_setpoint(11.0, 1, 12.0)  # the controller is back
    charger.step(11.0, V)
    assert not charger.failsafe_active
    assert charger.connector(1).offered_a == 12.0


def test_watchdog_disabled_keeps_the_setpoint() -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    charger.write_setpoint(0.0, 1, 16.0)
    charger.step(10_000.0, V)
    assert charger.connector(1).offered_a == 16.0


def test_energy_counter_only_goes_up_across_sessions() -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    charger.write_setpoint(0.0, 1, 16.0)
    readings = []
    for visit in range(2):
        start = visit * 10_000.0
        charger.plug(start, 1, QUICK_EV)
        for second in range(0, 3600, 60):
            charger.step(start + second, V)
            readings.append(charger.connector(1).energy_wh)
        charger.unplug(start + 3600, 1)
        charger.step(start + 3600 + UNPLUG_AFTER_S, V)
        readings.append(charger.connector(1).energy_wh)
    assert readings == sorted(readings)
    assert readings[-1] > 2 * 0.9 * 16 * 3 * V  # two sessions of almost an hour each
    assert charger.connector(1).session_energy_wh < readings[-1]


def test_phase_switching_limits_the_phases_drawn() -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    charger.plug(0.0, 1, QUICK_EV)
    charger.write_setpoint(0.0, 1, 16.0)
    charger.connector(1).phases_limit = 1
    charger.step(1.0, V)
    assert charger.connector(1).phase_currents_a() == (16.0, 0.0, 0.0)


def test_fault_shows_state_f_and_offers_nothing() -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    charger.plug(0.0, 1, QUICK_EV)
    charger.write_setpoint(0.0, 1, 16.0)
    charger.fault = True
    charger.step(1.0, V)
    assert charger.connector(1).state == "F"
    assert charger.connector(1).drawn_a == 0.0


def test_plugging_twice_or_unknown_connector_is_refused() -> None:
    charger = _charger(connectors=2)
    charger.plug(0.0, 2, QUICK_EV)
    with pytest.raises(ValueError):
        charger.plug(0.0, 2, QUICK_EV)
    with pytest.raises(KeyError):
        charger.plug(0.0, 3, QUICK_EV)
    with pytest.raises(ValueError):
        charger.unplug(0.0, 1)


def test_disabling_pauses_in_state_b_and_draws_nothing() -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    charger.plug(0.0, 1, QUICK_EV)
    charger.write_setpoint(0.0, 1, 16.0)
    charger.step(1.0, V)
    charger.write_enabled(2.0, 1, False)
    charger.step(2.0, V)
    assert (charger.connector(1).state, charger.connector(1).drawn_a) == ("B", 0.0)


def test_a_charger_wired_on_one_phase_feeds_a_three_phase_ev_on_one_phase() -> None:
    connector = Connector(1, wired_phases=1)
    connector.ev = Ev(EvProfile(phases=3, max_current_a=16.0), 0.0)
    connector.ev.drawn_a = 16.0
    connector.state = "C"
    assert connector.ev_phases == 1
    assert connector.phase_currents_a() == (16.0, 0.0, 0.0)


@pytest.mark.parametrize(("keep_state_c", "paused_state"), [(False, "B"), (True, "C")])
def test_an_ev_pausing_itself_draws_nothing_and_resumes_after_its_delay(
    keep_state_c: bool, paused_state: str
) -> None:
    charger = _charger(watchdog_timeout_s=0.0)
    charger.plug(0.0, 1, EvProfile(phases=3, max_current_a=16.0, response_delay_s=2.0))
    charger.write_setpoint(0.0, 1, 12.0)
    for now_s in (0.0, 2.0, 3.0):
        charger.step(now_s, V)
    assert charger.connector(1).drawn_a == 12.0
    charger.pause(1, keep_state_c)
    charger.step(4.0, V)
    energy_wh = charger.connector(1).session_energy_wh
    charger.step(10.0, V)  # offered 12 A all along
    connector = charger.connector(1)
    assert (connector.state, connector.offered_a, connector.drawn_a) == (paused_state, 12.0, 0.0)
    assert connector.session_energy_wh == energy_wh  # nothing drawn while paused
    charger.resume(1)
    charger.step(11.0, V)
    assert (charger.connector(1).state, charger.connector(1).drawn_a) == ("C", 0.0)
    charger.step(12.9, V)
    assert charger.connector(1).drawn_a == 0.0  # its response delay after the resume
    charger.step(13.0, V)
    assert charger.connector(1).drawn_a == 12.0


def test_pausing_or_resuming_needs_a_staying_ev_in_the_right_state() -> None:
    charger = _charger(connectors=2, watchdog_timeout_s=0.0)
    with pytest.raises(ValueError, match="no EV"):
        charger.pause(1)
    charger.plug(0.0, 1, QUICK_EV)
    with pytest.raises(ValueError, match="not paused"):
        charger.resume(1)
    charger.pause(1, keep_state_c=True)
    with pytest.raises(ValueError, match="already paused"):
        charger.pause(1)
    charger.unplug(1.0, 1)  # a pause while plugged ends with the unplug: state B
    charger.step(1.0, V)
    assert charger.connector(1).state == "B"
    with pytest.raises(ValueError, match="leaving"):
        charger.resume(1)
    with pytest.raises(KeyError):
        charger.pause(3)
