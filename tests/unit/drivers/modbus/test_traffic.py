"""The replay of the daemon's bus traffic follows the daemon's rules (pure, on a virtual clock)."""

from __future__ import annotations

import pytest

from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.traffic import Exchange, Line, Loop, Poll, Setpoint, replay

READ_10 = Exchange(4, 5, 22)  # FC 04, 10 registers
WRITE = Exchange(6, 5, 5)
LINE = Line(baud=9600)


def _exchange_s(exchange: Exchange) -> float:
    return wiretime.exchange_s(
        9600,
        wiretime.frame_chars(exchange.request_pdu_bytes),
        wiretime.frame_chars(exchange.reply_pdu_bytes),
    )


def test_a_poller_waits_its_interval_after_its_poll_ends() -> None:
    poll = Poll("meter", "m", (READ_10, READ_10), interval_s=1.0)
    traffic = replay(LINE, [poll], [], Loop(), seconds=600)
    # The second read waits out the line silence after the first; then the interval.
    poll_s = 2 * _exchange_s(READ_10) + wiretime.silence_s(9600)
    assert traffic.period_s("meter") == pytest.approx(1.0 + poll_s, rel=0.005)
    assert traffic.requests_per_s("m", 4) == pytest.approx(2 / (1.0 + poll_s), rel=0.005)


def test_a_setpoint_write_makes_the_connectors_pollers_read_at_once() -> None:
    status = Poll("c:1 status", "c", (READ_10,), interval_s=2.0)
    setpoint = Setpoint("c", (WRITE,), every_s=3.0, refreshes=("c:1 status",))
    alone = replay(LINE, [status], [], Loop(tick_s=1.0), seconds=600)
    written = replay(LINE, [status], [setpoint], Loop(tick_s=1.0), seconds=600)
    # Writes at the first loop step 3 s after the last (every ~3 s); each restarts the status
    # poller's interval: two polls per write instead of 1.5.
    assert written.requests_per_s("c", 6) == pytest.approx(1 / 3.0, rel=0.02)
    assert written.requests_per_s("c", 4) == pytest.approx(2 / 3.0, rel=0.02)
    assert alone.requests_per_s("c", 4) == pytest.approx(1 / (2.0 + _exchange_s(READ_10)), rel=0.01)


def test_the_grid_meter_goes_first_on_a_crowded_line() -> None:
    chargers = [Poll(f"c{n} status", f"c{n}", (READ_10,) * 3, interval_s=0.1) for n in range(6)]
    grid = Poll("grid", "grid", (READ_10,), interval_s=0.5, urgent=True, grid=True)
    traffic = replay(LINE, [*chargers, grid], [], Loop(), seconds=120)
    assert traffic.load > 0.95
    grid_period = traffic.period_s("grid")
    assert grid_period is not None and grid_period < 0.5 + 3 * _exchange_s(READ_10)
    slowest = max(traffic.period_s(f"c{n} status") or float("inf") for n in range(6))
    assert slowest > 0.5  # the routine reads wait their turn


def test_a_device_gap_holds_the_line_after_any_frame() -> None:
    fast = Poll("fast", "fast", (READ_10,), interval_s=0.0001)
    slow = Poll("slow", "slow", (READ_10,), interval_s=0.0001)
    line = Line(baud=9600, device_gaps_s={"slow": 0.2})
    traffic = replay(line, [fast, slow], [], Loop(), seconds=60)
    # They alternate; before each read of "slow" the line stays silent 0.2 s.
    cycle_s = 2 * _exchange_s(READ_10) + wiretime.silence_s(9600) + 0.2
    assert traffic.requests_per_s("slow") == pytest.approx(1 / cycle_s, rel=0.01)
    assert traffic.load == pytest.approx(1.0, abs=0.01)
