"""A site config becomes one consistent simulated site (no I/O, the clock is an argument)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from edge_controller.config.settings import Settings
from edge_controller.sim.sim_site import SimStartError
from edge_controller.sim.site_build import base_current, build_sim_site


def _settings(**simulation: Any) -> Settings:
    return Settings.model_validate(
        {
            "site": {"id": "s", "grid_limit_a": 63, "feeders": {"garage": {"limit_a": 32}}},
            "buses": {"lan": {"type": "tcp", "host": "127.0.0.1", "port": 1502}},
            "chargers": {
                "a": {
                    "bus": "lan",
                    "unit_id": 1,
                    "profile": "heidelberg_energy_control",
                    "simulated": True,
                    "feeder": "garage",
                },
                "b": {
                    "bus": "lan",
                    "unit_id": 2,
                    "profile": "keba_kecontact_p30",
                    "simulated": True,
                    "phase_rotation": "L1",
                },
                "real": {"bus": "lan", "unit_id": 3, "profile": "keba_kecontact_p30"},
            },
            "meters": {
                "grid": {
                    "bus": "lan",
                    "unit_id": 10,
                    "profile": "eastron_sdm630",
                    "simulated": True,
                },
                "garage": {
                    "bus": "lan",
                    "unit_id": 11,
                    "profile": "abb_b23",
                    "role": "feeder",
                    "feeder": "garage",
                    "simulated": True,
                },
                "b_meter": {
                    "bus": "lan",
                    "unit_id": 12,
                    "profile": "eastron_sdm72d",
                    "role": "connector",
                    "connector": "b:1",
                    "simulated": True,
                },
            },
            "simulation": {
                "base_load": [
                    {"at": "00:00", "current_a": [1, 1, 1]},
                    {"at": "06:30", "current_a": [8, 6, 4]},
                ],
                "ev_profiles": {"car": {"phases": 3, "max_current_a": 16, "response_delay_s": 0}},
                **simulation,
            },
        }
    )


def test_only_simulated_devices_are_built_and_meters_see_their_chargers() -> None:
    site = build_sim_site(_settings(), now_s=0.0)
    assert set(site.chargers) == {"a", "b"}
    assert site.model.meters["grid"].chargers == ["a", "b"]
    assert site.model.meters["garage"].chargers == ["a"]
    assert (site.model.meters["b_meter"].chargers, site.model.meters["b_meter"].connector) == (
        ["b"],
        1,
    )
    assert site.chargers["a"].model.config.max_current_a == 16.0  # the profile's hardware max


def test_base_load_follows_local_time_of_day() -> None:
    site = build_sim_site(_settings(), now_s=0.0, utc_offset_s=3600.0)
    assert site.model.base_current_a(5 * 3600.0) == (1.0, 1.0, 1.0)  # 06:00 local
    assert site.model.base_current_a(6 * 3600.0) == (8.0, 6.0, 4.0)  # 07:00 local


def test_script_plugs_charges_and_leaves() -> None:
    script = [{"connector": "b:1", "profile": "car", "arrive_s": 10, "leave_s": 100}]
    site = build_sim_site(_settings(ev_script=script), now_s=1000.0)
    site.chargers["b"].model.write_setpoint(1000.0, 1, 16.0)
    site.step(1005.0)
    assert site.chargers["b"].model.connector(1).state == "A"
    site.step(1010.0)
    site.step(1011.0)
    snapshot = site.snapshot(1011.0)
    view = snapshot["connectors"]["b:1"]
    assert view["state"] == "C"
    assert view["grid_current_a"] == [16.0, 0.0, 0.0]  # a 3-phase EV on a 1-phase charger
    assert snapshot["meters"]["b_meter"]["current_a"] == [16.0, 0.0, 0.0]
    site.step(1100.0)
    site.step(1103.0)
    assert site.chargers["b"].model.connector(1).state == "A"


def test_script_must_name_known_profiles() -> None:
    with pytest.raises(ValidationError, match="ev_profiles"):
        _settings(ev_script=[{"connector": "b:1", "profile": "nope"}])


def test_base_current_is_validated() -> None:
    assert base_current([1, 2, 3]) == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError):
        base_current([1, 2])


def test_script_must_name_simulated_connectors() -> None:
    script = [{"connector": "real:1", "profile": "car"}]
    with pytest.raises(SimStartError, match="real:1"):
        build_sim_site(_settings(ev_script=script), now_s=0.0)


def test_script_pauses_and_resumes_the_ev_in_the_state_it_names() -> None:
    pauses = [
        {"pause_s": 20, "resume_s": 30},
        {"pause_s": 40, "resume_s": 50, "state": "C"},
    ]
    script = [{"connector": "b:1", "profile": "car", "arrive_s": 10, "pauses": pauses}]
    site = build_sim_site(_settings(ev_script=script), now_s=1000.0)
    seen = []
    for elapsed_s in (10, 11, 20, 21, 30, 31, 40, 41, 50, 51):
        site.chargers["b"].model.write_setpoint(1000.0 + elapsed_s, 1, 16.0)  # (its watchdog)
        site.step(1000.0 + elapsed_s)
        view = site.snapshot(1000.0 + elapsed_s)["connectors"]["b:1"]
        seen.append((elapsed_s, view["state"], view["drawn_a"][0], view["ev"]["paused"]))
    assert seen == [
        (10, "C", 16.0, None),  # plugged and charging at once (no response delay)
        (11, "C", 16.0, None),
        (20, "B", 0.0, "B"),
        (21, "B", 0.0, "B"),
        (30, "C", 16.0, None),
        (31, "C", 16.0, None),
        (40, "C", 0.0, "C"),
        (41, "C", 0.0, "C"),
        (50, "C", 16.0, None),
        (51, "C", 16.0, None),
    ]


@pytest.mark.parametrize(
    "pauses",
    [
        [{"pause_s": 5}],  # before it arrives
        [{"pause_s": 20, "resume_s": 20}],  # resumes as it pauses
        [{"pause_s": 20, "resume_s": 120}],  # resumes after it left
        [{"pause_s": 20, "resume_s": 40}, {"pause_s": 30, "resume_s": 50}],  # overlapping
        [{"pause_s": 20}, {"pause_s": 30}],  # a second pause while the first lasts
        [{"pause_s": 20, "state": "A"}],
    ],
)
def test_script_pauses_must_fit_the_visit(pauses: list[dict[str, Any]]) -> None:
    script = [{"connector": "b:1", "profile": "car", "arrive_s": 10, "leave_s": 100}]
    script[0]["pauses"] = pauses
    with pytest.raises(ValidationError, match=r"pause|state"):
        _settings(ev_script=script)
