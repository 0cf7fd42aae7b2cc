"""A charger status that changes nothing leaves the session state as it is, the same object:
the session side sees a status of every charging EV at each read."""

from __future__ import annotations

from edge_controller.domain.sessions import state as sm

ACTIVE = sm.SessionState(sm.Phase.ACTIVE, True, sm.Authorization("AABBCCDD"), None, 12)


def test_a_charging_evs_status_leaves_its_session_state_as_it_is() -> None:
    after, actions = sm.transition(ACTIVE, sm.ChargerSeen(plugged=True), 1_700_000_000.0)
    assert after is ACTIVE and actions == ()


def test_a_session_recorded_before_the_plug_was_seen_takes_the_plug() -> None:
    unseen = sm.SessionState(sm.Phase.OPENING, False, sm.Authorization("AABBCCDD"))
    after, actions = sm.transition(unseen, sm.ChargerSeen(plugged=True), 1_700_000_000.0)
    assert after == sm.SessionState(sm.Phase.OPENING, True, unseen.auth) and actions == ()


def test_an_unplug_or_a_fault_still_stops_the_session() -> None:
    left, actions = sm.transition(ACTIVE, sm.ChargerSeen(plugged=False), 1_700_000_000.0)
    assert left == sm.SessionState() and sm.AllowCharging(False) in actions
    faulted, actions = sm.transition(ACTIVE, sm.ChargerSeen(True, fault=True), 1_700_000_000.0)
    assert faulted.phase is sm.Phase.FINISHED and sm.AllowCharging(False) in actions
