"""A device's error history is bounded: the newest ``ERROR_HISTORY`` events, newest first,
while its counts keep counting every error."""

from __future__ import annotations

import tracemalloc

from edge_controller.domain.device_errors import ERROR_HISTORY, DeviceErrors
from edge_controller.domain.snapshot import ErrorEvent


def test_the_newest_errors_are_kept_newest_first_and_counted_past_the_bound() -> None:
    errors = DeviceErrors()
    assert errors.history() == () and errors.counts() == {}
    for n in range(ERROR_HISTORY + 7):
        errors.record(101.0 + n, "timeout" if n % 2 else "crc", f"error {n}")
    history = errors.history()
    assert len(history) == ERROR_HISTORY
    newest = ERROR_HISTORY + 6
    assert history[0] == ErrorEvent(101.0 + newest, "crc", f"error {newest}")
    assert [e.message for e in history] == [f"error {n}" for n in range(newest, 6, -1)]
    assert errors.counts() == {"crc": 29, "timeout": 28}


def test_the_counts_handed_out_are_a_copy() -> None:
    errors = DeviceErrors()
    errors.record(1.0, "crc", "bad frame")
    shown = errors.counts()
    errors.record(2.0, "crc", "bad frame")
    assert shown == {"crc": 1} and errors.counts() == {"crc": 2}


def test_a_device_that_never_failed_holds_no_history() -> None:
    """Every Modbus device has its errors; most of a thousand never fail. An empty deque of
    fifty slots and an instance dict were 920 bytes a device, now 120."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [DeviceErrors() for _ in range(1000)]
        per_device = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert per_device < 300, per_device
