"""A device's failed request counts as a request and as an error of its kind, and is kept in
its history with the bus's time (the history's bound:
``tests/unit/domain/test_device_errors.py``)."""

from __future__ import annotations

from typing import cast

from structlog.testing import capture_logs

from edge_controller.domain.snapshot import ErrorEvent
from edge_controller.drivers.modbus.bus import DeviceTiming, ModbusBus
from edge_controller.drivers.modbus.stats import DeviceStats
from edge_controller.drivers.modbus.transport import Transport


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


def test_a_device_that_never_logged_holds_no_logger_and_its_fault_names_it() -> None:
    bus = ModbusBus("bus0", cast(Transport, None))
    quiet = bus.attach("meter", 1, DeviceTiming())
    faulty = bus.attach("charger", 2, DeviceTiming())
    # A bound logger each (about 300 bytes) at 1,007 devices, most of which never log.
    assert quiet._logger is None and faulty._logger is None
    with capture_logs() as logs:
        faulty.note_fault("illegal data address")
    assert quiet._logger is None
    assert [(e["event"], e["device"], e["bus"]) for e in logs] == [
        ("device fault", "charger", "bus0")
    ]
