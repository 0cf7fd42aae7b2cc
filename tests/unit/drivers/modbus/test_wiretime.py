"""Wire-time model and the bus timing report."""

from __future__ import annotations

import pytest

from edge_controller.config.settings import (
    ChargerSettings,
    MeterSettings,
    RtuBusSettings,
    RtuOverTcpBusSettings,
    Settings,
    SiteSettings,
    TcpBusSettings,
)
from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.timing_report import bus_timing_report


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


def _format_warnings(site: Settings) -> list[str]:
    return [line for line in bus_timing_report(site) if "ships as" in line]


def test_report_flags_a_meter_whose_parity_differs_from_the_line() -> None:
    site = _site(19200, 1, 1.0)  # Heidelberg (8E1) and an Eastron SDM630 (8N1) on an 8E1 line
    [warning] = _format_warnings(site)
    assert warning.startswith("WARNING bus rs485: grid (eastron_sdm630) ships as 8N1")
    assert "the bus runs 8E1" in warning and "set the device to 8E1" in warning


def test_report_flags_stop_bits_and_is_quiet_when_every_device_matches() -> None:
    site = _site(19200, 1, 1.0, meter_profile="abb_b23")  # both 8E1
    assert _format_warnings(site) == []
    site.buses["rs485"] = RtuBusSettings(type="rtu", device="/dev/ttyUSB0", stop_bits=2)
    warnings = _format_warnings(site)
    assert len(warnings) == 2 and all("ships as 8E1, the bus runs 8E2" in w for w in warnings)


def test_report_leaves_the_line_format_of_a_gateway_to_the_gateway() -> None:
    site = _site(19200, 1, 1.0)
    site.buses["rs485"] = RtuOverTcpBusSettings(type="rtu_over_tcp", host="192.0.2.9", baud=19200)
    assert _format_warnings(site) == []
    assert any(line.startswith("bus rs485: rtu 19200 baud") for line in bus_timing_report(site))


def test_a_device_answers_after_the_larger_of_silence_and_turnaround_not_their_sum() -> None:
    char_s = 11 / 9600
    silence_s = 3.5 * char_s
    assert wiretime.exchange_s(9600, 8, 25) == pytest.approx(33 * char_s + silence_s)
    slow = wiretime.exchange_s(9600, 8, 25, turnaround_s=0.02)
    assert slow == pytest.approx(33 * char_s + 0.02)
    # A transaction adds only the master's silence (or gap) before the next request.
    assert wiretime.transaction_s(9600, 5, 22, turnaround_s=0.02) == pytest.approx(slow + silence_s)
