"""A meter's recent readings, kept as plain doubles: what the site loop pairs with grid
readings (``caution``), at 1,000 connectors one history each."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from edge_controller.domain.model import Phases3

_FIELDS = 5  # a reading's doubles: started_s, arrived_s, then the current on L1, L2 and L3


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: when its read started and when it arrived (the values were taken between)
    and the per-phase currents it read."""

    started_s: float
    arrived_s: float
    current_a: Phases3


class RecentReadings:
    """The newest ``capacity`` readings, oldest first, as a bounded deque of ``Sample`` keeps
    them, each as five doubles in one array of fixed size: 1.4 kB for 32 readings where the
    deque and its objects (a sample, its tuple and five floats each) took 8.4 kB. The queries
    the loop asks run over the doubles without making a ``Sample`` of each.

    The readings fill the array's end: appending drops the oldest five doubles from its front
    and adds the newest five at its end, so a field of every reading in order is one slice
    (the array never grows: 155 doubles moved once a reading)."""

    __slots__ = ("_capacity", "_count", "_unordered", "_values")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._count = 0
        # Neighbours whose start times are not in order (or not numbers): with none, the first
        # reading begun after a moment is found by bisection (the pollers read one at a time,
        # so their readings come in order; any others are looked at one by one).
        self._unordered = 0
        self._values = array("d", [0.0]) * (_FIELDS * capacity)  # its exact size, never grown

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> RecentReadings:
        """``samples`` (oldest first), all of them."""
        readings = cls(max(1, len(samples)))
        for sample in samples:
            readings.append(sample)
        return readings

    def __len__(self) -> int:
        return self._count

    def append(self, sample: Sample) -> None:
        """Keep ``sample`` as the newest reading, dropping the oldest once full."""
        values, count = self._values, self._count
        if count == self._capacity:  # the oldest goes, and its pair with the next one
            if count > 1 and not values[0] <= values[_FIELDS]:
                self._unordered -= 1
            count -= 1
        del values[:_FIELDS]
        values.append(sample.started_s)
        values.append(sample.arrived_s)
        values.extend(sample.current_a)
        if count and not values[-2 * _FIELDS] <= values[-_FIELDS]:
            self._unordered += 1
        self._count = count + 1

    def __getitem__(self, index: int) -> Sample:
        """The reading at ``index`` (0 the oldest, -1 the newest) as a ``Sample``."""
        base = self._base(index)
        values = self._values
        current_a = (values[base + 2], values[base + 3], values[base + 4])
        return Sample(values[base], values[base + 1], current_a)

    def started_s(self, index: int) -> float:
        return self._values[self._base(index)]

    def current_a(self, index: int) -> Phases3:
        values, base = self._values, self._base(index)
        return (values[base + 2], values[base + 3], values[base + 4])

    def around(self, grid: Sample, *, highest: bool = False) -> Phases3 | None:
        """Per phase, the lowest (or the ``highest``) of the readings from the last one done
        before ``grid`` started to the first one begun after it arrived (``draw_around``)."""
        values, first_s, last_s = self._values, grid.started_s, grid.arrived_s
        start = _FIELDS * (self._capacity - self._count)
        # The first reading begun after the grid reading arrived, then the last one done
        # before it started, up to that one.
        last = self._first_begun(values[start::_FIELDS], last_s)
        if last is None:
            return None
        for first in range(last, -1, -1):
            if values[start + _FIELDS * first + 1] <= first_s:
                break
        else:
            return None
        low, high = start + _FIELDS * first, start + _FIELDS * (last + 1)
        pick = max if highest else min
        return (
            pick(values[low + 2 : high : _FIELDS]),
            pick(values[low + 3 : high : _FIELDS]),
            pick(values[low + 4 : high : _FIELDS]),
        )

    def draw_since(self, since_s: float, draw: Phases3, *, highest: bool = False) -> Phases3:
        """``draw`` per phase lowered (or raised: ``highest``) to each reading's, newest first,
        up to the first reading that arrived before ``since_s``."""
        values = self._values
        low = _FIELDS * (self._capacity - self._count)
        line1_a, line2_a, line3_a = draw
        for base in range(len(values) - _FIELDS, low - 1, -_FIELDS):
            if values[base + 1] < since_s:
                break
            # As min(a, b) and max(a, b): the draw kept unless a reading is below (above) it.
            read1_a, read2_a, read3_a = values[base + 2], values[base + 3], values[base + 4]
            if highest:
                line1_a = read1_a if read1_a > line1_a else line1_a
                line2_a = read2_a if read2_a > line2_a else line2_a
                line3_a = read3_a if read3_a > line3_a else line3_a
            else:
                line1_a = read1_a if read1_a < line1_a else line1_a
                line2_a = read2_a if read2_a < line2_a else line2_a
                line3_a = read3_a if read3_a < line3_a else line3_a
        return (line1_a, line2_a, line3_a)

    def _first_begun(self, starts: array[float], at_s: float) -> int | None:
        """Where the first of ``starts`` (every reading's, oldest first) at or after ``at_s``
        is; None if none is."""
        if not self._unordered:
            found = bisect_left(starts, at_s)
            if found == len(starts):
                return None  # in order, the newest is before ``at_s``: so is every other
            if starts[found] >= at_s:
                return found  # in order, every one before it is before ``at_s``
            # ``at_s`` is not a number, or the only reading's start is not: look at it.
        for number, started_s in enumerate(starts):
            if started_s >= at_s:
                return number
        return None

    def _base(self, index: int) -> int:
        count = self._count
        if not -count <= index < count:
            raise IndexError("reading index out of range")
        number = index + count if index < 0 else index
        return _FIELDS * (self._capacity - count + number)
