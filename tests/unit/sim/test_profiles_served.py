"""Every shipped profile is served so that decoding with the same profile gives the physics back."""

from __future__ import annotations

import pytest

from edge_controller.drivers.modbus.codec import decode, encode
from edge_controller.drivers.profiles.schema import load_profile
from edge_controller.drivers.registry import profile_kinds
from edge_controller.sim.device_charger import ChargerDevice
from edge_controller.sim.device_meter import MeterDevice
from edge_controller.sim.physics_charger import ChargerHardware, ChargerModel
from edge_controller.sim.physics_ev import EvProfile
from edge_controller.sim.physics_site import MeterModel

KINDS = profile_kinds()
CHARGERS = sorted(name for name, kind in KINDS.items() if kind == "charger")
METERS = sorted(name for name, kind in KINDS.items() if kind == "meter")
READ = {"input": 4, "holding": 3, "coil": 1, "discrete": 2}
WRITE = {"holding": 16, "coil": 15}


def _read(
    device: ChargerDevice | MeterDevice, name: str, now_s: float, connector: int = 1
) -> float:
    point = device.profile.points[name]
    address = device.profile.address_of(point, connector)
    words = device.read(READ[point.table], address, point.words, now_s)
    assert isinstance(words, list), f"{name}: exception {words}"
    return decode(words, point)


def _write(device: ChargerDevice, name: str, value: float, now_s: float) -> int | None:
    point = device.profile.points[name]
    return device.write(WRITE[point.table], point.address, encode(value, point), now_s)


def _letter(device: ChargerDevice, now_s: float) -> str:
    """The pilot state as a driver reads it: state code, overridden by "not plugged"."""
    status = device.profile.status
    assert status is not None
    if (
        status.plug_point
        and int(_read(device, status.plug_point, now_s)) not in status.plugged_values
    ):
        return "A"
    return status.states.get(int(_read(device, "state", now_s)), "F")


def _charger(name: str) -> ChargerDevice:
    model = ChargerModel(ChargerHardware(max_current_a=16.0, watchdog_timeout_s=0.0))
    return ChargerDevice("c", load_profile(name), model, lambda: 230.0)


def test_there_are_profiles_to_serve() -> None:
    assert len(CHARGERS) >= 3 and len(METERS) >= 3


@pytest.mark.parametrize("name", CHARGERS)
def test_charger_states_decode_to_the_physics(name: str) -> None:
    device = _charger(name)
    device.model.step(0.0, 230.0)
    assert _letter(device, 0.0) == "A"
    device.model.plug(0.0, 1, EvProfile(phases=3, max_current_a=16.0, response_delay_s=0.0))
    device.model.step(0.5, 230.0)
    assert _letter(device, 0.5) == "B"
    assert _write(device, "set_current", 16.0, 1.0) is None
    if "enable" in device.profile.points:
        assert _write(device, "enable", device.profile.setpoints.enable_raw[1], 1.0) is None
    device.model.step(1.0, 230.0)
    device.model.step(2.0, 230.0)
    assert _letter(device, 2.0) == "C"
    assert _read(device, "current_l1", 2.0) == pytest.approx(16.0, abs=0.1)
    assert device.profile.status is not None
    plug = device.profile.status.plug_point
    if plug is not None:
        assert int(_read(device, plug, 2.0)) in device.profile.status.plugged_values


@pytest.mark.parametrize("name", CHARGERS)
def test_charger_refuses_a_setpoint_above_its_maximum(name: str) -> None:
    device = _charger(name)
    point = device.profile.points["set_current"]
    assert point.max is not None
    too_high = encode(point.max + 1.0, point)
    assert device.write(WRITE[point.table], point.address, too_high, 0.0) == 3


@pytest.mark.parametrize("name", METERS)
def test_meter_readings_decode_to_the_physics(name: str) -> None:
    model = MeterModel("grid", [], current_a=(10.0, 20.0, 30.0), import_wh=123_456.0)
    device = MeterDevice("m", load_profile(name), model)
    points = device.profile.points
    if "current_l2" in points:
        assert _read(device, "current_l2", 0.0) == pytest.approx(20.0, abs=0.01)
    if "power_total" in points:
        assert _read(device, "power_total", 0.0) == pytest.approx(60.0 * 230.0, rel=0.01)
    if "energy_import" in points:
        assert _read(device, "energy_import", 0.0) == pytest.approx(123_456.0, rel=0.01)
