"""Modbus ASCII (ABL eMH1) over a pty pair, and RTU frames through a TCP serial gateway."""

from __future__ import annotations

import pytest
from pymodbus.framer import FramerType

from edge_controller.config.settings import (
    ChargerSettings,
    MeterSettings,
    RtuBusSettings,
    RtuOverTcpBusSettings,
)
from edge_controller.domain.model import CpState
from edge_controller.drivers import registry
from edge_controller.ports import BuiltInMeter, NotSupported

from .conftest import Unit, rtu_over_tcp_server, serial_server, words

pytestmark = pytest.mark.integration


def abl_unit(state: int) -> Unit:
    unit = Unit()
    unit.load("h", 0x0033, [0x00A0, state << 8, 158, 160, 0])
    return unit


async def test_abl_emh1_over_modbus_ascii(pty_pair: tuple[str, str]) -> None:
    ours, theirs = pty_pair
    units = {1: abl_unit(0xC2)}
    async with serial_server(theirs, units, FramerType.ASCII, baudrate=38400, parity="N"):
        settings = RtuBusSettings(
            type="rtu", device=ours, baud=38400, parity="E", framing="ascii", timeout_s=0.5
        )
        async with registry.build_bus("abl-line", settings) as bus:
            [wallbox] = registry.build_charger(
                "abl", ChargerSettings(bus="abl-line", unit_id=1, profile="abl_emh1"), bus
            )
            status = await wallbox.read_status()
            assert status.state is CpState.C
            assert isinstance(wallbox, BuiltInMeter)
            assert (await wallbox.read_meter()).current_a == pytest.approx((15.8, 16.0, 0.0))

            await wallbox.set_current(10)
            assert units[1].tables["h"][0x0014] == 166  # duty cycle 10 A x 16.6
            await wallbox.set_current(0)
            assert units[1].tables["h"][0x0014] == 1000  # the documented "off" duty cycle
            await wallbox.set_enabled(False)
            assert units[1].tables["h"][0x0005] == 0xE0E0

            units[1].load("h", 0x0034, [0xF9 << 8])
            status = await wallbox.read_status()
            assert status.state is CpState.F and status.fault_text == "overcurrent detected"


async def test_ascii_profile_on_an_rtu_bus_is_refused(pty_pair: tuple[str, str]) -> None:
    settings = RtuBusSettings(type="rtu", device=pty_pair[0], baud=38400)
    bus = registry.build_bus("line", settings)
    with pytest.raises(NotSupported, match="framing: ascii"):
        registry.build_charger(
            "abl", ChargerSettings(bus="line", unit_id=1, profile="abl_emh1"), bus
        )


async def test_rtu_over_tcp_gateway() -> None:
    unit = Unit()
    unit.load("i", 0x00, words(">f", 231.0))
    unit.load("i", 0x34, words(">f", -850.0))
    unit.load("i", 0x48, words(">f", 5.5) + words(">f", 1.25))
    async with rtu_over_tcp_server({3: unit}) as port:
        settings = RtuOverTcpBusSettings(
            type="rtu_over_tcp", host="127.0.0.1", port=port, baud=9600
        )
        async with registry.build_bus("gw", settings) as bus:
            meter = registry.build_meter(
                "grid", MeterSettings(bus="gw", unit_id=3, profile="eastron_sdm72d"), bus
            )
            reading = await meter.read()
    assert reading.voltage_v[0] == 231.0 and reading.total_power_w == -850.0
    assert (reading.import_energy_wh, reading.export_energy_wh) == (5500.0, 1250.0)
