"""Per-device transaction statistics, exposed as DeviceView (times: the bus's wall clock)."""

from __future__ import annotations

from edge_controller.domain.device_errors import DeviceErrors
from edge_controller.domain.latency import (
    BUS_BOUNDS_S,
    Histogram,
    SortedWindow,
    nearest_rank_index,
)
from edge_controller.domain.snapshot import DeviceView, ErrorEvent

LATENCY_SAMPLES = 512
# Replies in a row the driver could not use (a bad value, a wrong byte count) after which the
# device is shown unavailable although it answers; one bad value only counts as an error.
UNUSABLE_REPLIES_DOWN = 3


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    return sorted_values[nearest_rank_index(len(sorted_values), fraction)]


class DeviceStats:
    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.available = True
        self.requests = 0
        self.errors = DeviceErrors()
        self.latencies_s = SortedWindow(LATENCY_SAMPLES)
        self.latency_histogram = Histogram(BUS_BOUNDS_S)  # every answered request since the start
        self.last_success_s: float | None = None
        self.unusable_in_a_row = 0  # replies the driver could not use since its last good one

    def record_success(self, latency_s: float, at_s: float) -> None:
        self.requests += 1
        self.latencies_s.add(latency_s)
        self.latency_histogram.observe(latency_s)
        self.last_success_s = at_s

    def record_error(self, kind: str, at_s: float, message: str) -> None:
        self.requests += 1
        self.errors.record(at_s, kind, message)

    def record_unusable(self, kind: str, at_s: float, message: str) -> None:
        """A reply the bus counted as answered that the driver could not use: an error of the
        device (its request is already counted)."""
        self.errors.record(at_s, kind, message)
        self.unusable_in_a_row += 1

    def record_usable(self) -> None:
        self.unusable_in_a_row = 0

    @property
    def usable(self) -> bool:
        """It answers, and not only with replies the driver could not use."""
        return self.available and self.unusable_in_a_row < UNUSABLE_REPLIES_DOWN

    def error_history(self) -> tuple[ErrorEvent, ...]:
        """The last ``ERROR_HISTORY`` error events, newest first."""
        return self.errors.history()

    def view(self, fault_text: str | None = None) -> DeviceView:
        window = self.latencies_s
        return DeviceView(
            device_id=self.device_id,
            available=self.usable,
            requests=self.requests,
            errors=self.errors.counts(),
            latency_p50_ms=window.nearest_rank(0.50) * 1000 if window else None,
            latency_p99_ms=window.nearest_rank(0.99) * 1000 if window else None,
            last_success_s=self.last_success_s,
            fault_text=fault_text if self.available else None,
        )
