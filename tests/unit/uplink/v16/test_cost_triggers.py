"""When a costmsg RunningCost's triggerMeterValue is met: each condition once (a status each
time the connector becomes one named), the power when it crosses the value either way."""

from __future__ import annotations

from decimal import Decimal

from edge_controller.uplink.v16.cost_triggers import MeterTrigger, TriggerState, due

T0_S = 1_772_445_600.0


def test_energy_is_met_once_at_the_register_it_names() -> None:
    state = TriggerState(MeterTrigger(at_energy_wh=Decimal(2500)))
    assert due(state, T0_S, 2499.9, None, "Charging") == []
    assert due(state, T0_S, 2500.0, None, "Charging") == ["atEnergykWh"]
    assert due(state, T0_S, 2600.0, None, "Charging") == []


def test_time_is_met_once_when_the_clock_passes_it() -> None:
    state = TriggerState(MeterTrigger(at_s=T0_S + 60))
    assert due(state, T0_S + 59.9, None, None, None) == []
    assert due(state, T0_S + 60, None, None, None) == ["atTime"]
    assert due(state, T0_S + 120, None, None, None) == []


def test_power_is_met_when_it_crosses_from_the_side_it_was_on() -> None:
    falling = TriggerState(MeterTrigger(at_power_w=Decimal(3000)))
    assert due(falling, T0_S, None, 6900.0, None) == []  # above: the side it starts on
    assert due(falling, T0_S, None, 3000.0, None) == []  # still not below
    assert due(falling, T0_S, None, 2999.0, None) == ["atPowerkW"]
    assert due(falling, T0_S, None, 7000.0, None) == []  # once
    rising = TriggerState(MeterTrigger(at_power_w=Decimal(3000)))
    assert due(rising, T0_S, None, 0.0, None) == []
    assert due(rising, T0_S, None, 3000.0, None) == ["atPowerkW"]


def test_a_status_is_met_each_time_the_connector_becomes_one_named() -> None:
    trigger = MeterTrigger(at_statuses=frozenset({"SuspendedEV", "Finishing"}))
    state = TriggerState(trigger, last_status="SuspendedEV")  # already so when it came
    assert due(state, T0_S, None, None, "SuspendedEV") == []
    assert due(state, T0_S, None, None, "Charging") == []
    assert due(state, T0_S, None, None, "SuspendedEV") == ["atCPStatus"]
    assert due(state, T0_S, None, None, "SuspendedEV") == []
    assert due(state, T0_S, None, None, "Finishing") == ["atCPStatus"]
    assert state.met == ["atCPStatus", "atCPStatus"]


def test_no_reading_meets_nothing_but_time() -> None:
    trigger = MeterTrigger(T0_S, Decimal(1), Decimal(1), frozenset({"Charging"}))
    state = TriggerState(trigger)
    assert due(state, T0_S, None, None, None) == ["atTime"]
