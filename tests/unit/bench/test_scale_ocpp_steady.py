"""The OCPP scale bench reads its steady RSS only once every device's latency window is full."""

from __future__ import annotations

from bench.bench_scale_ocpp import windows_full
from edge_controller.domain.snapshot import DeviceView
from edge_controller.drivers.modbus.stats import LATENCY_SAMPLES


def _device(device_id: str, requests: int) -> DeviceView:
    return DeviceView(device_id=device_id, available=True, requests=requests, errors={})


def test_one_device_short_of_a_full_window_keeps_the_read_waiting() -> None:
    full = _device("charger-1", LATENCY_SAMPLES)
    assert windows_full((full, _device("grid", LATENCY_SAMPLES + 40)))
    assert not windows_full((full, _device("grid", LATENCY_SAMPLES - 1)))
    assert not windows_full(())


def test_failed_requests_do_not_fill_a_window() -> None:
    failed = DeviceView(
        device_id="charger-2",
        available=True,
        requests=LATENCY_SAMPLES + 10,
        errors={"timeout": 11},
    )
    assert not windows_full((_device("grid", LATENCY_SAMPLES), failed))
    answered = DeviceView(
        device_id="charger-2", available=True, requests=LATENCY_SAMPLES + 10, errors={"timeout": 10}
    )
    assert windows_full((_device("grid", LATENCY_SAMPLES), answered))
