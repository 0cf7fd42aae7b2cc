"""Register behaviour of simulated devices, served from the shipped profile files."""

from __future__ import annotations

import pytest

from edge_controller.drivers.modbus.codec import decode
from edge_controller.drivers.profiles.schema import load_profile
from edge_controller.sim.device_charger import ChargerDevice
from edge_controller.sim.devices import WRITES_KEPT
from edge_controller.sim.physics_charger import ChargerHardware, ChargerModel
from edge_controller.sim.physics_ev import EvProfile

HEIDELBERG = "heidelberg_energy_control"
READ_INPUT, READ_HOLDING, WRITE_ONE, WRITE_MANY = 4, 3, 6, 16


def _heidelberg(**config: float) -> ChargerDevice:
    model = ChargerModel(ChargerHardware(max_current_a=16.0, **config))  # type: ignore[arg-type]
    return ChargerDevice("hd", load_profile(HEIDELBERG), model, lambda: 230.0)


def _point(device: ChargerDevice, name: str, now_s: float) -> float:
    profile = device.profile
    point = profile.points[name]
    function = READ_INPUT if point.table == "input" else READ_HOLDING
    words = device.read(function, point.address, point.words, now_s)
    assert isinstance(words, list)
    return decode(words, point)


def test_every_profile_point_is_readable_in_one_block() -> None:
    device = _heidelberg()
    words = device.read(READ_INPUT, 4, 15, 0.0)
    assert isinstance(words, list) and len(words) == 15
    assert words[1] == 2  # state A1: no EV, no PWM


def test_reads_outside_the_map_answer_illegal_address() -> None:
    device = _heidelberg()
    assert device.read(READ_HOLDING, 300, 1, 0.0) == 2
    assert device.read(READ_INPUT, 17, 3, 0.0) == 2  # runs past the last input register


def test_setpoint_write_reaches_the_physics_and_is_recorded() -> None:
    device = _heidelberg(watchdog_timeout_s=0.0)
    device.model.plug(0.0, 1, EvProfile(response_delay_s=0.0))
    assert device.write(WRITE_ONE, 261, [160], 1.0) is None
    device.model.step(1.0, 230.0)
    device.model.step(2.0, 230.0)
    assert _point(device, "state", 2.0) == 7  # C2
    assert _point(device, "current_l1", 2.0) == pytest.approx(16.0)
    assert device.last_write is not None
    assert (device.last_write.point, device.last_write.value) == ("set_current", 16.0)


def test_accepted_writes_are_kept_in_order_with_their_times_the_oldest_dropped() -> None:
    device = _heidelberg()
    for n in range(WRITES_KEPT + 2):
        assert device.write(WRITE_ONE, 261, [60 + n % 2 * 100], float(n)) is None
    assert device.write(WRITE_ONE, 261, [30], 99.0) == 3  # refused: not kept
    kept = list(device.writes)
    assert len(kept) == WRITES_KEPT
    assert [r.at_s for r in kept] == [float(n) for n in range(2, WRITES_KEPT + 2)]
    assert [r.value for r in kept[:2]] == [6.0, 16.0]
    assert {(r.point, r.connector) for r in kept} == {("set_current", 1)}


@pytest.mark.parametrize("raw", [30, 170])
def test_out_of_range_setpoint_answers_illegal_value(raw: int) -> None:
    device = _heidelberg()
    assert device.write(WRITE_ONE, 261, [raw], 0.0) == 3
    assert device.model.connector(1).setpoint_a == 0.0
    assert device.last_write is None


def test_writes_to_read_only_or_unknown_registers_answer_illegal_address() -> None:
    device = _heidelberg()
    assert device.write(WRITE_ONE, 260, [1], 0.0) == 2  # hole between points
    assert device.write(WRITE_ONE, 5, [1], 0.0) == 2  # no holding register 5
    assert device.write(WRITE_MANY, 259, [1, 0, 100], 0.0) == 2  # spans the hole


def test_multi_register_write_sets_both_points() -> None:
    device = _heidelberg()
    assert device.write(WRITE_MANY, 261, [100, 80], 0.0) is None
    assert _point(device, "set_current", 0.0) == 10.0
    assert _point(device, "failsafe_current", 0.0) == 8.0


def test_watchdog_register_drives_the_fallback() -> None:
    device = _heidelberg(watchdog_timeout_s=15.0, failsafe_current_a=6.0)
    assert _point(device, "failsafe_timeout", 0.0) == 15.0
    device.write(WRITE_ONE, 257, [2000], 0.0)  # 2 s
    device.write(WRITE_ONE, 262, [80], 0.0)  # failsafe 8 A
    device.write(WRITE_ONE, 261, [160], 0.0)
    device.model.step(1.0, 230.0)
    assert device.model.connector(1).offered_a == 16.0
    device.model.step(3.0, 230.0)
    assert device.model.connector(1).offered_a == 8.0


def test_reboot_resets_volatile_registers_but_not_energy() -> None:
    device = _heidelberg(watchdog_timeout_s=15.0)
    device.write(WRITE_ONE, 257, [3000], 0.0)
    device.write(WRITE_ONE, 261, [120], 0.0)
    device.model.connector(1).energy_wh = 1234.0
    device.inject("reboot", 1.0, duration_s=2.0)
    assert device.faults.silent(2.0)
    assert not device.faults.silent(3.5)
    assert _point(device, "set_current", 3.5) == 0.0
    assert _point(device, "failsafe_timeout", 3.5) == 15.0
    assert _point(device, "energy_import", 3.5) == 1234.0


def test_stuck_value_freezes_one_point() -> None:
    device = _heidelberg()
    device.write(WRITE_ONE, 261, [100], 0.0)
    device.inject("stuck", 0.0, point="set_current")
    device.write(WRITE_ONE, 261, [160], 1.0)
    assert _point(device, "set_current", 1.0) == 10.0
    device.clear_faults("stuck")
    assert _point(device, "set_current", 1.0) == 16.0


def test_a_bad_value_is_served_for_one_point_until_cleared() -> None:
    device = _heidelberg()
    device.write(WRITE_ONE, 261, [100], 0.0)
    device.inject("bad_value", 0.0, point="set_current")  # u16: its largest raw value
    assert _point(device, "set_current", 0.5) == 6553.5
    device.inject("bad_value", 0.0, point="set_current", value=99.0)  # past the profile's range
    assert _point(device, "set_current", 0.5) == 99.0
    device.clear_faults("bad_value")
    assert _point(device, "set_current", 0.5) == 10.0


def test_a_point_that_does_not_answer_silences_only_the_reads_covering_it() -> None:
    device = _heidelberg()
    device.inject("no_answer", 0.0, point="energy_import")  # input 17-18
    assert not device.faults.silent(1.0)
    assert device.silent(READ_INPUT, 5, 14, 1.0)  # the status and meter read, 5-18
    assert device.silent(READ_INPUT, 18, 1, 1.0)  # its second word alone
    assert not device.silent(READ_INPUT, 5, 12, 1.0)  # 5-16 stops short of it
    assert not device.silent(READ_HOLDING, 17, 2, 1.0)  # same address, other table
    device.clear_faults("no_answer")
    assert not device.silent(READ_INPUT, 5, 14, 1.0)
    device.inject("no_answer", 0.0)
    assert device.silent(READ_HOLDING, 257, 1, 1.0)  # the whole device


def test_unknown_fault_kind_or_point_is_refused() -> None:
    device = _heidelberg()
    with pytest.raises(ValueError):
        device.inject("gremlins", 0.0)
    with pytest.raises(ValueError):
        device.inject("stuck", 0.0, point="no_such_point")
    with pytest.raises(ValueError):
        device.inject("exception", 0.0, code=9)
    for point in (None, "no_such_point"):
        with pytest.raises(ValueError):
            device.inject("bad_value", 0.0, point=point)
    with pytest.raises(ValueError):
        device.inject("no_answer", 0.0, point="no_such_point")


def test_reads_longer_than_the_model_allows_answer_illegal_value() -> None:
    device = _heidelberg()  # answers at most 20 registers per read
    assert isinstance(device.read(READ_INPUT, 4, 15, 0.0), list)
    assert device.read(READ_INPUT, 4, 21, 0.0) == 3


def test_heidelberg_serves_energy_since_power_on_and_the_external_lock() -> None:
    device = _heidelberg(watchdog_timeout_s=0.0)
    device.model.connector(1).energy_wh = 1500.0
    words = device.read(READ_INPUT, 13, 6, 0.5)  # 13 lock, 14 power, 15/16 and 17/18 energy
    assert isinstance(words, list)
    assert words[0] == 1  # unlocked (no key switch wired)
    assert (words[2] << 16 | words[3], words[4] << 16 | words[5]) == (1500, 1500)
    device.inject("reboot", 1.0, duration_s=1.0)
    device.model.connector(1).energy_wh += 200.0
    words = device.read(READ_INPUT, 15, 4, 2.5)
    assert isinstance(words, list)
    assert (words[0] << 16 | words[1], words[2] << 16 | words[3]) == (200, 1700)


def test_charx_answers_input_reads_with_its_holding_registers() -> None:
    model = ChargerModel(ChargerHardware(connectors=2, max_current_a=32.0, watchdog_timeout_s=0.0))
    charx = ChargerDevice("charx", load_profile("phoenix_charx_sec3xxx"), model, lambda: 230.0)
    charx.model.plug(0.0, 2, EvProfile(response_delay_s=0.0))
    charx.model.step(1.0, 230.0)
    for address, count in ((1232, 20), (1299, 3), (2299, 3)):
        holding = charx.read(READ_HOLDING, address, count, 1.0)
        assert isinstance(holding, list)
        assert charx.read(READ_INPUT, address, count, 1.0) == holding
    assert charx.read(READ_INPUT, 2299, 1, 1.0) == [ord("B") << 8]
    assert charx.write(WRITE_MANY, 1301, [16], 1.0) is None  # writes still go to holding


def test_a_charger_fault_shows_its_fault_code_offers_nothing_and_ends_when_cleared() -> None:
    device = _heidelberg(watchdog_timeout_s=0.0)
    device.model.plug(0.0, 1, EvProfile(response_delay_s=0.0))
    device.write(WRITE_ONE, 261, [160], 0.0)
    device.inject("charger_fault", 1.0)
    for now_s in (1.0, 2.0):
        device.sync_fault(now_s)
        device.model.step(now_s, 230.0)
    assert device.model.connector(1).state == "F"
    assert _point(device, "state", 2.0) == 11  # the model's own state-F code: "charger error"
    assert _point(device, "current_l1", 2.0) == 0.0
    device.inject("charger_fault", 2.0, error_code=10, duration_s=5.0)
    device.sync_fault(3.0)
    assert _point(device, "state", 3.0) == 10  # the error code asked for
    for now_s in (7.5, 8.0, 9.0):  # the fault's time is over: charging again
        device.sync_fault(now_s)
        device.model.step(now_s, 230.0)
    assert _point(device, "state", 9.0) == 7 and device.model.connector(1).state == "C"
    device.inject("charger_fault", 9.0)
    device.clear_faults("charger_fault")
    device.sync_fault(9.5)
    assert not device.model.fault


def test_a_charger_fault_needs_a_charger_and_one_of_its_profiles_fault_codes() -> None:
    with pytest.raises(ValueError, match="not a fault code of profile"):
        _heidelberg().inject("charger_fault", 0.0, error_code=7)
