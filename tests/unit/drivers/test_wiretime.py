"""Wire-time model and the bus timing report."""

from __future__ import annotations

import pytest

from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.timing_report import bus_timing_report
from edge_controller.settings import (
    ChargerSettings,
    MeterSettings,
    RtuBusSettings,
    Settings,
    SiteSettings,
    TcpBusSettings,
)


def test_read_of_ten_registers_at_9600() -> None:
    # request 8 bytes, reply 25 bytes, 11 bits each; silence 3.5 chars before reply and after.
    char_s = 11 / 9600
    expected = (8 + 25) * char_s + 2 * 3.5 * char_s
    assert wiretime.transaction_s(9600, 5, 22) == pytest.approx(expected)


def test_fast_baud_uses_fixed_silence_and_turnaround_counts() -> None:
    base = wiretime.transaction_s(115200, 5, 22)
    assert wiretime.silence_s(115200) == pytest.approx(0.00175)
    assert wiretime.transaction_s(115200, 5, 22, turnaround_s=0.01) > base
    assert wiretime.transaction_s(115200, 5, 22, gap_s=0.1) == pytest.approx(base - 0.00175 + 0.1)


def test_ascii_frames_take_two_characters_per_byte() -> None:
    assert wiretime.frame_chars(5, "ascii") == 17
    assert wiretime.transaction_s(38400, 5, 8, framing="ascii") > wiretime.transaction_s(
        38400, 5, 8
    )


def _site(
    baud: int, chargers: int, interval_s: float, meter_profile: str = "eastron_sdm630"
) -> Settings:
    return Settings(
        site=SiteSettings(id="s", grid_limit_a=63),
        buses={
            "rs485": RtuBusSettings(type="rtu", device="/dev/ttyUSB0", baud=baud),
            "lan": TcpBusSettings(type="tcp", host="192.0.2.1"),
        },
        chargers={
            f"c{n}": ChargerSettings(
                bus="rs485",
                unit_id=n + 1,
                profile="heidelberg_energy_control",
                poll_interval_s=interval_s,
            )
            for n in range(chargers)
        },
        meters={"grid": MeterSettings(bus="rs485", unit_id=100, profile=meter_profile)},
    )


def test_report_fits_a_small_fast_bus() -> None:
    lines = bus_timing_report(_site(19200, 2, 2.0))
    assert len(lines) >= 1 and lines[0].startswith("bus rs485: rtu 19200 baud, 3 device(s)")
    assert not [line for line in lines if "round-robined" in line or "per poll" in line]


def test_report_warns_when_the_bus_is_overloaded() -> None:
    lines = bus_timing_report(_site(1200, 8, 0.5))
    warnings = [line for line in lines if line.startswith("WARNING bus rs485")]
    assert any("round-robined" in line for line in warnings)
    assert any("needs" in line and "per poll" in line for line in warnings)


def test_report_warns_about_ascii_device_on_rtu_bus() -> None:
    site = _site(38400, 0, 1.0)
    site.chargers["abl"] = ChargerSettings(bus="rs485", unit_id=9, profile="abl_emh1")
    lines = bus_timing_report(site)
    assert any("speaks Modbus ASCII" in line and "framing: ascii" in line for line in lines)


def test_report_warns_about_two_buses_on_one_endpoint() -> None:
    site = _site(19200, 0, 1.0)
    site.buses["lan2"] = TcpBusSettings(type="tcp", host="192.0.2.1")
    assert any("also bus lan" in line for line in bus_timing_report(site))
