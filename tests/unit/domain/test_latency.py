"""The sorted latency window gives the percentiles of sorting the last N values, each within
half a step of its log scale (``RELATIVE_ERROR``, 0.025 %; 1 us at most below 1 us)."""

from __future__ import annotations

import statistics
import tracemalloc
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_controller.domain.latency import (
    RELATIVE_ERROR,
    STEP_FLOOR_S,
    Histogram,
    SortedWindow,
    from_step,
    to_step,
)
from edge_controller.drivers.modbus.stats import percentile

latencies = st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=2, max_size=80)


def near(value: float) -> object:
    """What a window reads back for ``value``: within the relative error, or 1 us below it."""
    return pytest.approx(value, rel=RELATIVE_ERROR * 1.000001, abs=STEP_FLOOR_S)


@given(latencies, st.integers(2, 40))
def test_window_matches_the_sorted_last_values(values: list[float], size: int) -> None:
    """The percentiles of the values read back, to the bit; a nearest rank and a median also
    within the error of the exact values' (the exclusive percentile of fewer than 100 values
    reaches past them, which can double the error)."""
    window, last, back = SortedWindow(size), deque[float](maxlen=size), deque[float](maxlen=size)
    for value in values:
        window.add(value)
        last.append(value)
        back.append(from_step(to_step(value)))
        ordered, ordered_back = sorted(last), sorted(back)
        assert len(window) == len(last)
        for fraction in (0.5, 0.99):
            assert window.nearest_rank(fraction) == percentile(ordered_back, fraction)
            assert window.nearest_rank(fraction) == near(percentile(ordered, fraction))
        assert window.median() == statistics.median(back) == near(statistics.median(last))
        if len(last) >= 2:
            assert window.exclusive_percentile(99) == statistics.quantiles(back, n=100)[98]
            assert window.exclusive_percentile(1) == statistics.quantiles(back, n=100)[0]


@given(st.lists(st.floats(1e-4, 5.0), min_size=100, max_size=700), st.sampled_from([200, 512]))
def test_the_reported_percentiles_of_a_full_window_are_the_exact_ones_within_the_error(
    values: list[float], size: int
) -> None:
    """What status, MQTT and /metrics show: a device's nearest-rank p50 and p99 (512 values),
    a charger status read's median and exclusive p99 (200)."""
    window, last = SortedWindow(size), deque[float](maxlen=size)
    for value in values:
        window.add(value)
        last.append(value)
    ordered = sorted(last)
    assert window.nearest_rank(0.5) == near(percentile(ordered, 0.5))
    assert window.nearest_rank(0.99) == near(percentile(ordered, 0.99))
    assert window.median() == near(statistics.median(last))
    assert window.exclusive_percentile(99) == near(statistics.quantiles(last, n=100)[98])


def test_repeated_values_leave_in_arrival_order() -> None:
    window = SortedWindow(3)
    for value in (0.2, 0.2, 0.1, 0.2, 0.9):  # the oldest 0.2s leave, one 0.2 stays
        window.add(value)
    assert (window.nearest_rank(0.01), window.median(), window.nearest_rank(0.99)) == (
        near(0.1), near(0.2), near(0.9),
    )  # fmt: skip


def test_a_full_window_keeps_two_bytes_a_value_in_each_order() -> None:
    """Every Modbus device keeps a window of 512 and every poller one of 200: a float object
    and two pointers per value were 21.6 kB per full window of 512 (36 MB at 1,000
    connectors), doubles in arrays about 9 kB (14.7 MB), 16-bit steps 2.2 kB."""

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
        512, near(kept[0]), near(kept[-1]),
    )  # fmt: skip
    assert held < 2_600, held


@given(st.floats(0.0, 1e6, allow_nan=False))
def test_a_value_reads_back_within_half_a_step(value_s: float) -> None:
    assert from_step(to_step(value_s)) == near(value_s)


def test_steps_keep_the_order_of_their_values() -> None:
    values = [0.0, 1e-7, 1e-6, 1.0001e-6, 0.0005, 0.0005004, 0.002, 0.25, 3.0, 1e5, 1e9]
    steps = [to_step(v) for v in values]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 0xFFFF
    assert from_step(0) == 0.0 and from_step(to_step(1e-7)) == STEP_FLOOR_S
    assert to_step(0.0005) < to_step(0.0005004)  # 0.08 % apart: the next step up


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
    assert percentile(values, 0.99) == 99.0 and window.nearest_rank(0.99) == near(99.0)
    assert percentile(values[:99], 0.99) == 99.0  # below 100 values: the largest
    assert percentile([*values, 101.0], 0.99) == 100.0  # 99.99: rank 100 of 101
    assert percentile(values[:2], 0.5) == 1.0  # the first of two, not the second
    assert percentile(values, 0.07) == 7.0  # 0.07 x 100 is 7.000000000000001 in floats
