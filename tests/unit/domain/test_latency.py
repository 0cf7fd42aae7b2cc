"""The sorted latency window gives the same percentiles as sorting the last N values."""

from __future__ import annotations

import statistics
import tracemalloc
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_controller.domain.latency import Histogram, SortedWindow
from edge_controller.drivers.modbus.stats import percentile

latencies = st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=2, max_size=80)


@given(latencies, st.integers(2, 40))
def test_window_matches_the_sorted_last_values(values: list[float], size: int) -> None:
    window, last = SortedWindow(size), deque[float](maxlen=size)
    for value in values:
        window.add(value)
        last.append(value)
        ordered = sorted(last)
        assert len(window) == len(last)
        assert window.nearest_rank(0.5) == percentile(ordered, 0.5)
        assert window.nearest_rank(0.99) == percentile(ordered, 0.99)
        assert window.median() == statistics.median(last)
        if len(last) >= 2:
            assert window.exclusive_percentile(99) == statistics.quantiles(last, n=100)[98]
            assert window.exclusive_percentile(1) == statistics.quantiles(last, n=100)[0]


def test_repeated_values_leave_in_arrival_order() -> None:
    window = SortedWindow(3)
    for value in (0.2, 0.2, 0.1, 0.2, 0.9):  # the oldest 0.2s leave, one 0.2 stays
        window.add(value)
    assert (window.nearest_rank(0.01), window.median(), window.nearest_rank(0.99)) == (
        0.1, 0.2, 0.9,
    )  # fmt: skip


def test_a_full_window_keeps_its_values_as_doubles() -> None:
    """Every Modbus device keeps a window of 512 and every poller one of 200: a float object
    and two pointers per value were 21.6 kB per full window of 512 (36 MB at 1,000
    connectors); doubles in arrays about 9 kB."""

    def value(n: int) -> float:  # a new float each time, as each measured latency is
        return (n * 7919 % 1000) / 1000

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        window = SortedWindow(512)
        for n in range(2000):
            window.add(value(n))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    kept = sorted(value(n) for n in range(2000 - 512, 2000))
    assert (len(window), window.nearest_rank(0.0), window.nearest_rank(1.0)) == (
        512, kept[0], kept[-1],
    )  # fmt: skip
    assert held < 12_000, held


def test_a_histogram_counts_each_value_in_its_bucket_and_below_every_higher_bound() -> None:
    histogram = Histogram((0.1, 0.25, 1.0))
    for value_s in (0.02, 0.1, 0.2, 0.25, 0.9, 3.0):
        histogram.observe(value_s)
    assert histogram.cumulative() == [(0.1, 2), (0.25, 4), (1.0, 5), (float("inf"), 6)]
    assert histogram.count == 6 and histogram.sum_s == pytest.approx(4.47)
    assert Histogram().cumulative()[-1] == (float("inf"), 0)


def test_a_histogram_needs_rising_bounds() -> None:
    with pytest.raises(ValueError, match="rise"):
        Histogram((0.5, 0.1))


def test_the_p99_of_a_hundred_is_the_second_largest() -> None:
    """The nearest rank: the smallest rank not below 0.99 x n. At n = 100 that is the 99th;
    rounding 99.5 to even made it the 100th, the largest."""
    values = [float(n) for n in range(1, 101)]
    window = SortedWindow(200)
    for value in values:
        window.add(value)
    assert percentile(values, 0.99) == window.nearest_rank(0.99) == 99.0
    assert percentile(values[:99], 0.99) == 99.0  # below 100 values: the largest
    assert percentile([*values, 101.0], 0.99) == 100.0  # 99.99: rank 100 of 101
    assert percentile(values[:2], 0.5) == 1.0  # the first of two, not the second
    assert percentile(values, 0.07) == 7.0  # 0.07 x 100 is 7.000000000000001 in floats
