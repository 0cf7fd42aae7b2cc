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


class SortedWindow:
    """The newest ``size`` values, in arrival order and sorted.

    Both orders are arrays of C doubles, 8 bytes a value each, where a deque and a list of
    float objects took 40 (the float and a pointer in each). Every Modbus device keeps a
    window of 512 (21.6 kB full that way, 9.2 kB now) and every poller one of 200 (7.3 kB,
    now 3.2 kB): at 1,000 connectors, 1,007 devices and 2,001 pollers, 36 MB once the windows
    are full, now 16 MB."""

    def __init__(self, size: int) -> None:
        self._arrived = array("d")  # a ring once full: ``_oldest`` is where the next goes
        self._oldest = 0
        self._sorted = array("d")
        self._size = size

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> None:
        if len(self._arrived) < self._size:
            self._arrived.append(value)
        else:
            oldest = self._arrived[self._oldest]
            del self._sorted[bisect_left(self._sorted, oldest)]
            self._arrived[self._oldest] = value
            self._oldest = (self._oldest + 1) % self._size
        insort(self._sorted, value)

    def nearest_rank(self, fraction: float) -> float:
        """Nearest-rank percentile (``fraction`` of 1); the window must not be empty."""
        ordered = self._sorted
        return ordered[nearest_rank_index(len(ordered), fraction)]

    def median(self) -> float:
        """As ``statistics.median`` of the window; it must not be empty."""
        ordered, half = self._sorted, len(self._sorted) // 2
        return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2

    def exclusive_percentile(self, percent: int) -> float:
        """``statistics.quantiles(window, n=100)[percent - 1]`` (the default, exclusive
        method), the same float; the window needs at least two values."""
        ordered, count = self._sorted, len(self._sorted)
        scaled = percent * (count + 1)
        j = min(max(scaled // 100, 1), count - 1)
        delta = scaled - j * 100
        return (ordered[j - 1] * (100 - delta) + ordered[j] * delta) / 100


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
