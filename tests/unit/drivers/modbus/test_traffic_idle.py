"""The bus model with no EV: each connector's meter is read at the idle interval, as the control
loop's pollers read it, and its status as before."""

from __future__ import annotations

import pytest

from edge_controller.config.settings import Settings
from edge_controller.domain.model import IDLE_METER_INTERVAL_S
from edge_controller.drivers.modbus.timing_report import bus_traffic, charger_traffic
from edge_controller.drivers.profiles.schema import load_profile
from edge_controller.services.control.connector import LoopTiming

PROFILE = "heidelberg_energy_control"


def _settings(poll_interval_s: float) -> Settings:
    charger = {"bus": "rs485", "unit_id": 1, "profile": PROFILE, "poll_interval_s": poll_interval_s}
    return Settings.model_validate({
        "site": {"id": "idle", "grid_limit_a": 63},
        "buses": {"rs485": {"type": "rtu", "device": "/dev/ttyUSB0", "baud": 19200}},
        "chargers": {"hd": charger},
    })  # fmt: skip


def test_the_control_loop_reads_an_idle_meter_as_seldom_as_the_model_counts() -> None:
    assert LoopTiming().idle_meter_interval_s == IDLE_METER_INTERVAL_S


@pytest.mark.parametrize(
    ("poll_interval_s", "idle_s"), [(1.0, IDLE_METER_INTERVAL_S), (10.0, 10.0)]
)
def test_with_no_ev_only_the_meters_are_read_at_the_idle_interval(
    poll_interval_s: float, idle_s: float
) -> None:
    config = _settings(poll_interval_s).chargers["hd"]
    charging, _ = charger_traffic("hd", config, load_profile(PROFILE))
    free, _ = charger_traffic("hd", config, load_profile(PROFILE), ev_free=True)
    # Its state and measurements are one read: one poller, which reads both when the meter
    # is due (every poll while charging), else the state alone.
    every = round(idle_s / poll_interval_s)
    assert [(p.name, p.interval_s, p.carried_every) for p in charging] == [
        ("hd:1 status and meter", poll_interval_s, 1)
    ]  # fmt: skip
    assert [(p.name, p.interval_s, p.carried_every) for p in free] == [
        ("hd:1 status and meter", poll_interval_s, every)
    ]  # fmt: skip
    assert [(len(p.exchanges), len(p.carried)) for p in charging] == [(1, 1)]


def test_a_site_with_no_ev_asks_its_chargers_less_than_a_charging_one() -> None:
    settings = _settings(1.0)
    _, charging = bus_traffic(settings, "rs485")
    _, free = bus_traffic(settings, "rs485", ev_free=True)
    assert free.requests_per_s("hd") < charging.requests_per_s("hd")
