"""The last N latencies kept in order as they arrive, so their percentiles cost a look-up
instead of a sort each time a status view asks (every control tick, for every device)."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, insort


def nearest_rank_index(count: int, fraction: float) -> int:
    """Where the nearest-rank percentile (``fraction`` of 1) is in ``count`` sorted values: the
    smallest rank not below ``fraction`` x ``count``, so the p99 of 100 values is the 99th (the
    second largest) and of fewer the largest. ``round(x + 0.5)`` rounded a half to even: an odd
    product went a rank up (the p99 of 100 was the largest). A product a float's error above a
    whole number (0.07 x 100 is 7.000000000000001) counts as that number."""
    rank = math.ceil(fraction * count - 1e-9)
    return min(count - 1, max(0, rank - 1))


# A window keeps each latency as a 16-bit step on a log scale: step 0 is 0 s (or less), step k
# the value STEP_FLOOR_S x STEP_RATIO ** (k - 1), so a value reads back within half a step, a
# relative error of at most 0.025 % (RELATIVE_ERROR), and a value between 0 and 1 us as 1 us.
# A percentile interpolated between two values keeps that bound; one extrapolated past them (a
# p99 of fewer than 99 values) can stretch it about threefold.
# The 65,535 steps reach 1.7e8 s; a longer one reads as the last.
STEP_FLOOR_S = 1e-6
STEP_RATIO = 1.0005
_LAST_STEP = 0xFFFF
_LOG_RATIO = math.log(STEP_RATIO)
RELATIVE_ERROR = math.sqrt(STEP_RATIO) - 1


def to_step(value_s: float) -> int:
    if value_s <= 0.0:
        return 0
    if value_s <= STEP_FLOOR_S:
        return 1
    return min(_LAST_STEP, 1 + round(math.log(value_s / STEP_FLOOR_S) / _LOG_RATIO))


def from_step(step: int) -> float:
    return 0.0 if step == 0 else STEP_FLOOR_S * math.exp((step - 1) * _LOG_RATIO)


class SortedWindow:
    """The newest ``size`` values, in arrival order and sorted, each as its step (``to_step``):
    a percentile reads back within ``RELATIVE_ERROR`` of the one of the exact values, the same
    value's steps being in the same order.

    Both orders are arrays of 16-bit steps, 2 bytes a value each, where doubles took 8 and a
    deque and a list of float objects 40. Every Modbus device keeps a window of 512 (2.1 kB
    full, 8.2 kB as doubles) and every poller one of 200 (0.8 kB, 3.2 kB as doubles): at
    1,000 connectors, 1,007 devices and 2,001 pollers, 3.7 MB once the windows are full,
    where doubles took 14.7 MB."""

    def __init__(self, size: int) -> None:
        self._arrived = array("H")  # a ring once full: ``_oldest`` is where the next goes
        self._oldest = 0
        self._sorted = array("H")
        self._size = size

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> None:
        step = to_step(value)
        if len(self._arrived) < self._size:
            self._arrived.append(step)
        else:
            oldest = self._arrived[self._oldest]
            del self._sorted[bisect_left(self._sorted, oldest)]
            self._arrived[self._oldest] = step
            self._oldest = (self._oldest + 1) % self._size
        insort(self._sorted, step)

    def nearest_rank(self, fraction: float) -> float:
        """Nearest-rank percentile (``fraction`` of 1); the window must not be empty."""
        ordered = self._sorted
        return from_step(ordered[nearest_rank_index(len(ordered), fraction)])

    def median(self) -> float:
        """As ``statistics.median`` of the window; it must not be empty."""
        ordered, half = self._sorted, len(self._sorted) // 2
        if len(ordered) % 2:
            return from_step(ordered[half])
        return (from_step(ordered[half - 1]) + from_step(ordered[half])) / 2

    def exclusive_percentile(self, percent: int) -> float:
        """``statistics.quantiles(window, n=100)[percent - 1]`` (the default, exclusive
        method) of the values read back; the window needs at least two values."""
        ordered, count = self._sorted, len(self._sorted)
        scaled = percent * (count + 1)
        j = min(max(scaled // 100, 1), count - 1)
        delta = scaled - j * 100
        below, above = from_step(ordered[j - 1]), from_step(ordered[j])
        return (below * (100 - delta) + above * delta) / 100


# Upper bounds of the control loop's overload reaction buckets (s): the target is 250 ms.
REACTION_BOUNDS_S = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Upper bounds of one answered bus transaction (s): a LAN answers in ms, 9600 baud RTU in tens.
BUS_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    """Counts of observed durations per upper bound (cumulative, as Prometheus has them), their
    number and their sum, since the start."""

    def __init__(self, bounds_s: tuple[float, ...] = REACTION_BOUNDS_S) -> None:
        if list(bounds_s) != sorted(set(bounds_s)):
            raise ValueError("bounds must rise")
        self.bounds_s = bounds_s
        self._counts = [0] * len(bounds_s)  # per bucket, not cumulative
        self.count = 0
        self.sum_s = 0.0

    def observe(self, value_s: float) -> None:
        index = bisect_left(self.bounds_s, value_s)  # a value on a bound belongs to it
        if index < len(self._counts):
            self._counts[index] += 1
        self.count += 1
        self.sum_s += value_s

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at most that), then (inf, every observation)."""
        running, out = 0, []
        for bound, n in zip(self.bounds_s, self._counts, strict=True):
            running += n
            out.append((bound, running))
        return [*out, (float("inf"), self.count)]
