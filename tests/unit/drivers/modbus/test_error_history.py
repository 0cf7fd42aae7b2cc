"""A device's failed request counts as a request and as an error of its kind, and is kept in
its history with the bus's time (the history's bound:
``tests/unit/domain/test_device_errors.py``)."""

from __future__ import annotations

from edge_controller.domain.snapshot import ErrorEvent
from edge_controller.drivers.modbus.stats import DeviceStats


def test_a_failed_request_is_counted_and_kept_newest_first() -> None:
    stats = DeviceStats("grid")
    stats.record_success(0.004, 100.0)
    stats.record_error("crc", 101.0, "error 0")
    stats.record_error("timeout", 102.0, "error 1")
    stats.record_error("crc", 103.0, "error 2")
    assert stats.error_history() == (
        ErrorEvent(103.0, "crc", "error 2"),
        ErrorEvent(102.0, "timeout", "error 1"),
        ErrorEvent(101.0, "crc", "error 0"),
    )
    view = stats.view()
    assert view.errors == {"crc": 2, "timeout": 1}
    assert view.requests == 4 and view.last_success_s == 100.0
