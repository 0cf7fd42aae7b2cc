"""The last N latencies kept in order as they arrive, so their percentiles cost a look-up
instead of a sort each time a status view asks (every control tick, for every device)."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque


class SortedWindow:
    """The newest ``size`` values, in arrival order and sorted."""

    def __init__(self, size: int) -> None:
        self._arrived: deque[float] = deque()
        self._sorted: list[float] = []
        self._size = size

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> None:
        if len(self._arrived) == self._size:
            oldest = self._arrived.popleft()
            del self._sorted[bisect_left(self._sorted, oldest)]
        self._arrived.append(value)
        insort(self._sorted, value)

    def nearest_rank(self, fraction: float) -> float:
        """Nearest-rank percentile (``fraction`` of 1); the window must not be empty."""
        ordered = self._sorted
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
        return ordered[index]

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
