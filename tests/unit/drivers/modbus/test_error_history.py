"""A device's error history is bounded: the newest ``ERROR_HISTORY`` events, newest first, while
its counters keep counting every error."""

from __future__ import annotations

from edge_controller.domain.snapshot import ErrorEvent
from edge_controller.drivers.modbus.stats import ERROR_HISTORY, DeviceStats


def test_the_newest_errors_are_kept_newest_first_and_counted_past_the_bound() -> None:
    stats = DeviceStats("grid")
    stats.record_success(0.004, 100.0)
    for n in range(ERROR_HISTORY + 7):
        stats.record_error("timeout" if n % 2 else "crc", 101.0 + n, f"error {n}")
    history = stats.error_history()
    assert len(history) == ERROR_HISTORY
    newest = ERROR_HISTORY + 6
    assert history[0] == ErrorEvent(101.0 + newest, "crc", f"error {newest}")
    assert [e.message for e in history] == [f"error {n}" for n in range(newest, 6, -1)]
    assert stats.view().errors == {"crc": 29, "timeout": 28}
    assert stats.view().requests == ERROR_HISTORY + 8
