"""The device contract, one set per device on the bench (per shipped profile on the simulator):
every point reads within its declared range; every setpoint is written and read back; the
watchdog falls back to its failsafe current within its timeout; an exception and a silent unit
become the drivers' DeviceFault / DeviceUnavailable, nothing else.

The same tests run against the simulator in ``make test`` and against a real bench with
``make hil BENCH=hil/bench.yaml``.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from edge_controller.drivers.modbus import pdu
from edge_controller.drivers.modbus.bus import DeviceTiming
from edge_controller.ports import DeviceFault, DeviceUnavailable
from hil.bench import DeviceUnderTest, bench_device_ids

pytestmark = pytest.mark.integration
device_param = pytest.mark.parametrize("dut", bench_device_ids(), indirect=True)
writable_param = pytest.mark.parametrize("dut", bench_device_ids({"writable"}), indirect=True)
WATCHDOG = {"failsafe_current", "failsafe_timeout", "offered_current"}
watchdog_param = pytest.mark.parametrize("dut", bench_device_ids(WATCHDOG), indirect=True)
WATCHDOG_MARGIN_S = 2.0


def setpoint_value(dut: DeviceUnderTest, name: str, timeout_s: float) -> list[int] | float | None:
    """What the contract writes to a writable point (raw words where the meaning is raw)."""
    profile = dut.profile
    if name == "enable":
        return [profile.setpoints.enable_raw[1]]
    values: dict[str, float] = {
        "set_current": 6.0,
        "failsafe_current": 6.0,
        "failsafe_timeout": timeout_s,
        "phases": 3.0,
    }
    values |= {step.point: step.value for step in profile.init}
    return values.get(name)


async def off_raw_or_value(dut: DeviceUnderTest) -> dict[str, float]:
    """``set_current`` where the profile has a raw "off" value outside the point's range (ABL:
    duty cycle 1000): that value is in range too."""
    off_raw = dut.profile.setpoints.current_off_raw
    point = dut.profile.points.get("set_current")
    if off_raw is None or point is None:
        return {}
    address = dut.profile.address_of(point)
    request = pdu.read_request(point.table, address, point.words)
    words = pdu.parse_read_response(request, await dut.device.channel.request(request))
    if words == [off_raw]:
        return {}
    return await dut.device.read(["set_current"])


@device_param
async def test_every_point_reads_within_its_range(dut: DeviceUnderTest) -> None:
    names = set(dut.profile.points)
    special = dut.profile.setpoints.current_off_raw is not None
    values = await dut.device.read(names - {"set_current"} if special else names)
    values |= await off_raw_or_value(dut)
    assert set(values) | ({"set_current"} if special else set()) == names
    for name, value in values.items():
        point = dut.profile.points[name]
        assert math.isfinite(value)
        assert point.min is None or value >= point.min, name
        assert point.max is None or value <= point.max, name


@writable_param
async def test_every_setpoint_is_written_and_read_back(dut: DeviceUnderTest) -> None:
    writable = [n for n, p in dut.profile.points.items() if p.writable]
    if not dut.config.writable:
        pytest.skip(f"the bench file does not allow writing to {dut.device_id}")
    timeout_s = 15.0
    checked = []
    for name in writable:
        value = setpoint_value(dut, name, timeout_s)
        if value is None:
            continue
        if isinstance(value, list):
            await dut.device.write_raw(name, value)
            expected = float(value[0]) * dut.profile.points[name].scale
        else:
            await dut.device.write(name, value)
            expected = value
        got = (await dut.device.read([name]))[name]
        assert got == pytest.approx(expected, abs=abs(dut.profile.points[name].scale)), name
        checked.append(name)
    assert "set_current" in checked or dut.profile.kind != "charger"
    if dut.charger is not None:
        await dut.charger.set_current(0.0)  # leave it offering nothing


@watchdog_param
async def test_the_watchdog_falls_back_within_its_timeout(dut: DeviceUnderTest) -> None:
    assert dut.charger is not None
    if not dut.config.writable:
        pytest.skip(f"the bench file does not allow writing to {dut.device_id}")
    timeout_s = 2.0 if dut.sim is not None else 10.0
    program = dut.charger.program_failsafe
    await program(6.0, timeout_s)
    await dut.charger.set_current(10.0)
    await asyncio.sleep(min(0.5, timeout_s / 4))
    offered = (await dut.device.read(["offered_current"]))["offered_current"]
    assert offered == pytest.approx(10.0, abs=0.5)  # still the setpoint: it is a fall back
    # No write for the timeout: reads do not feed the watchdog.
    await asyncio.sleep(timeout_s + WATCHDOG_MARGIN_S)
    offered = (await dut.device.read(["offered_current"]))["offered_current"]
    assert offered == pytest.approx(6.0, abs=0.5)
    await dut.charger.set_current(0.0)


@device_param
async def test_an_exception_is_a_device_fault(dut: DeviceUnderTest) -> None:
    table = next(iter(dut.profile.points.values())).table
    request = pdu.read_request(table, dut.config.illegal_address, 1)
    with pytest.raises(DeviceFault, match=r"Modbus exception 0[23]"):
        await dut.device.channel.request(request)


@device_param
async def test_a_silent_unit_is_unavailable(dut: DeviceUnderTest) -> None:
    if dut.absent_unit_id is None:
        pytest.skip(f"the bench file names no absent unit id on bus {dut.config.bus}")
    timing = DeviceTiming(timeout_s=0.3, retries=0)
    nobody = dut.bus.attach("absent", dut.absent_unit_id, timing)
    point = next(iter(dut.profile.points.values()))
    request = pdu.read_request(point.table, point.address, point.words)
    with pytest.raises(DeviceUnavailable, match=r"no answer|exception_0B|failed to respond"):
        await nobody.request(request)
    # The device itself answers right after.
    assert await dut.device.read([next(iter(dut.profile.points))])
