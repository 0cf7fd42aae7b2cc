"""Whether a figure sampled over a run stays flat: the least-squares slope over the second half
of the samples, times that half's length, must not grow past a tolerance (the first half is the
warm-up: caches fill, the first sessions start). Falling is fine: only growth piles up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Trend:
    slope_per_h: float  # the figure's change per hour over the second half
    drift: float  # the change over the second half's length at that slope
    tolerance: float
    flat: bool


def slope(times_s: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope (value per second); 0 for fewer than two distinct times."""
    n = len(times_s)
    if n < 2:
        return 0.0
    mean_t, mean_v = sum(times_s) / n, sum(values) / n
    spread = sum((t - mean_t) ** 2 for t in times_s)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True)) / spread


def second_half_trend(times_s: Sequence[float], values: Sequence[float], tolerance: float) -> Trend:
    """The trend of the second half of the samples (at least its last two)."""
    if len(times_s) != len(values):
        raise ValueError("times and values differ in length")
    start = min(len(times_s) // 2, max(0, len(times_s) - 2))
    times, kept = times_s[start:], values[start:]
    per_s = slope(times, kept)
    span_s = times[-1] - times[0] if len(times) > 1 else 0.0
    drift = per_s * span_s
    return Trend(per_s * 3600, drift, tolerance, drift <= tolerance)
