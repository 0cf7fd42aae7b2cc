"""When a running session takes a meter value: periodic and clock-aligned intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_controller.domain.sessions.events import ReadingContext

PERIODIC = ReadingContext.PERIODIC
CLOCK = ReadingContext.CLOCK_ALIGNED


@dataclass(frozen=True, slots=True)
class Sampling:
    interval_s: float = 60.0  # 0: no periodic samples (OCPP MeterValueSampleInterval)
    aligned_s: float = 900.0  # 0: no clock-aligned samples (OCPP ClockAlignedDataInterval)


@dataclass(slots=True)
class SampleClock:
    """Per-session record of when each kind of sample was last taken."""

    last_periodic_s: float
    last_aligned_s: float

    def due(self, sampling: Sampling, now_s: float) -> ReadingContext | None:
        """The context of the sample due at ``now_s`` (clock-aligned first), or None. After the
        site's clock stepped back, both kinds count from the step: a periodic sample at once,
        clock-aligned ones from the next boundary (instead of none until the clock passes the
        last sample's time again: the time across the step is then lost, and with it a paid
        session's cost checks)."""
        if now_s < self.last_periodic_s:
            self.last_periodic_s = now_s - sampling.interval_s
        if sampling.aligned_s > 0 and now_s < self.last_aligned_s:
            self.last_aligned_s = math.floor(now_s / sampling.aligned_s) * sampling.aligned_s
        if sampling.aligned_s > 0:
            boundary_s = math.floor(now_s / sampling.aligned_s) * sampling.aligned_s
            if boundary_s > self.last_aligned_s:
                return CLOCK
        if sampling.interval_s > 0 and now_s - self.last_periodic_s >= sampling.interval_s:
            return PERIODIC
        return None

    def taken(self, context: ReadingContext, now_s: float) -> None:
        if context == CLOCK:
            self.last_aligned_s = now_s
        else:
            self.last_periodic_s = now_s
