"""Replies the driver could not use: each is an error of the device; the device is shown
unavailable only after ``UNUSABLE_REPLIES_DOWN`` of them in a row, and a usable one ends that."""

from __future__ import annotations

from edge_controller.drivers.modbus.stats import UNUSABLE_REPLIES_DOWN, DeviceStats


def test_unusable_replies_count_and_only_a_row_of_them_takes_the_device_down() -> None:
    stats = DeviceStats("grid")
    for n in range(UNUSABLE_REPLIES_DOWN - 1):
        stats.record_success(0.004, 100.0 + n)
        stats.record_unusable("bad_value", 100.0 + n, "grid: voltage_l1 = 612.5 V is implausible")
        assert stats.view("why").available and stats.view("why").fault_text == "why"
    stats.record_success(0.004, 110.0)
    stats.record_usable()  # a good reading between: the row starts again
    for n in range(UNUSABLE_REPLIES_DOWN):
        stats.record_success(0.004, 120.0 + n)
        stats.record_unusable("bad_reply", 120.0 + n, "grid: bad reply")
    view = stats.view("grid: bad reply")
    assert not view.available and view.fault_text == "grid: bad reply"  # down, and why
    assert view.errors == {
        "bad_value": UNUSABLE_REPLIES_DOWN - 1,
        "bad_reply": UNUSABLE_REPLIES_DOWN,
    }
    assert view.requests == 2 * UNUSABLE_REPLIES_DOWN  # each answered request counted once
    assert stats.error_history()[0].kind == "bad_reply"
    stats.record_usable()
    assert stats.view().available


def test_a_silent_device_is_down_whatever_its_replies_were() -> None:
    stats = DeviceStats("grid")
    stats.available = False  # the bus's verdict: it does not answer
    stats.record_usable()
    assert not stats.view("stale").available and stats.view("stale").fault_text is None
