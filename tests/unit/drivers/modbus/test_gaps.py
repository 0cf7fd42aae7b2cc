"""When the next frame may go out: a shared serial line versus Modbus TCP."""

from __future__ import annotations

import pytest

from edge_controller.drivers.modbus.bus import LineTiming, gap_deadline


def test_on_a_serial_line_a_device_gap_counts_from_any_frame() -> None:
    line = LineTiming(baud=19200)
    # Device B needs 100 ms; device A's frame ended at 10.0 s, B's own last one at 5.0 s.
    assert gap_deadline(line, 0.1, bus_last_s=10.0, device_last_s=5.0) == pytest.approx(10.1)


def test_on_a_serial_line_the_line_silence_holds_for_a_device_without_gap() -> None:
    line = LineTiming(baud=9600)
    deadline = gap_deadline(line, 0.0, bus_last_s=10.0, device_last_s=0.0)
    assert deadline == pytest.approx(10.0 + line.silence_s())
    assert line.silence_s() > 0.003  # 3.5 characters at 9600 baud


def test_over_tcp_a_device_gap_counts_from_its_own_last_transaction() -> None:
    line = LineTiming()
    # Another device's frame just ended: B's 100 ms since its own frame at 9.95 s still bind.
    assert gap_deadline(line, 0.1, bus_last_s=10.0, device_last_s=9.95) == pytest.approx(10.05)
    # B was quiet long enough: it goes at once, a slow neighbour does not hold it back.
    assert gap_deadline(line, 0.1, bus_last_s=10.0, device_last_s=5.0) == pytest.approx(10.0)


def test_over_tcp_the_bus_gap_still_counts_from_any_frame() -> None:
    line = LineTiming(gap_s=0.02)  # an installer's gap for a gateway to a serial line
    assert gap_deadline(line, 0.0, bus_last_s=10.0, device_last_s=0.0) == pytest.approx(10.02)
