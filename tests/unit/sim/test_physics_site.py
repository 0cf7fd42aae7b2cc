"""Site physics: base-load profile by time of day, phase rotation, meters summing the loads."""

from __future__ import annotations

import pytest

from edge_controller.sim.physics_charger import ChargerHardware, ChargerModel
from edge_controller.sim.physics_ev import EvProfile
from edge_controller.sim.physics_site import (
    BaseLoadProfile,
    ChargerWiring,
    MeterModel,
    SiteModel,
    from_grid_phases,
    onto_grid_phases,
)


@pytest.mark.parametrize(
    ("rotation", "grid"),
    [
        ("L1L2L3", (1.0, 2.0, 3.0)),
        ("L2L3L1", (3.0, 1.0, 2.0)),  # charger L1 on grid L2, L2 on L3, L3 on L1
        ("L3L1L2", (2.0, 3.0, 1.0)),
        ("L2", (0.0, 1.0, 0.0)),  # single-phase charger: its only terminal on grid L2
    ],
)
def test_phase_rotation_places_currents_on_grid_phases(
    rotation: str, grid: tuple[float, float, float]
) -> None:
    assert onto_grid_phases((1.0, 2.0, 3.0), rotation) == grid


def test_meter_rotation_is_the_inverse_view() -> None:
    grid = onto_grid_phases((1.0, 2.0, 3.0), "L2L3L1")
    assert from_grid_phases(grid, "L2L3L1") == (1.0, 2.0, 3.0)


def test_bad_rotation_is_rejected() -> None:
    with pytest.raises(ValueError):
        onto_grid_phases((1.0, 0.0, 0.0), "L1L1L2")


def test_base_load_steps_by_time_of_day() -> None:
    profile = BaseLoadProfile(((0.0, (2.0, 2.0, 2.0)), (7 * 3600.0, (10.0, 8.0, 6.0))))
    assert profile.current_a(3 * 3600.0) == (2.0, 2.0, 2.0)
    assert profile.current_a(8 * 3600.0) == (10.0, 8.0, 6.0)
    assert profile.current_a(86_400.0 + 3600.0) == (2.0, 2.0, 2.0)  # next day wraps
    with pytest.raises(ValueError):
        BaseLoadProfile(((5.0, (0.0, 0.0, 0.0)), (1.0, (0.0, 0.0, 0.0))))


def _site(rotation: str, ev_phases: int) -> SiteModel:
    charger = ChargerModel(ChargerHardware(watchdog_timeout_s=0.0))
    charger.plug(0.0, 1, EvProfile(phases=ev_phases, max_current_a=16.0, response_delay_s=0.0))
    charger.write_setpoint(0.0, 1, 16.0)
    site = SiteModel(
        base_load=BaseLoadProfile(((0.0, (5.0, 4.0, 3.0)),)),
        chargers={"c1": ChargerWiring(charger, rotation)},
        meters={"grid": MeterModel("grid", ["c1"])},
    )
    site.step(0.0)
    site.step(1.0)
    return site


def test_grid_meter_reads_base_load_plus_rotated_charging_load() -> None:
    site = _site("L2L3L1", ev_phases=1)
    assert site.meters["grid"].current_a == (5.0, 4.0 + 16.0, 3.0)


def test_three_phase_ev_loads_all_grid_phases() -> None:
    site = _site("L3L1L2", ev_phases=3)
    assert site.meters["grid"].current_a == (21.0, 20.0, 19.0)


def test_base_load_override_and_export_energy() -> None:
    site = _site("L1L2L3", ev_phases=3)
    site.base_override_a = (-40.0, -40.0, -40.0)  # PV exports more than the EV takes
    site.step(2.0)
    site.step(3602.0)
    meter = site.meters["grid"]
    assert meter.current_a == (-24.0, -24.0, -24.0)
    assert meter.export_wh == pytest.approx(3 * 24.0 * 230.0)
    assert site.base_current_a(0.0) == (-40.0, -40.0, -40.0)
