"""The soak's flatness rule: the second half's slope, times its length, within a tolerance."""

from __future__ import annotations

import pytest

from bench.trend import second_half_trend, slope


def test_slope_of_a_straight_line_is_its_rise_per_second() -> None:
    assert slope([0, 60, 120, 180], [10, 13, 16, 19]) == pytest.approx(0.05)


def test_a_figure_that_settles_after_the_warm_up_is_flat() -> None:
    times = [60.0 * i for i in range(10)]
    rss = [50, 58, 63, 66, 67, 67.2, 67.1, 67.3, 67.2, 67.2]  # warm-up, then level
    trend = second_half_trend(times, rss, tolerance=1.0)
    assert trend.flat and abs(trend.drift) < 0.2


def test_a_leak_in_the_second_half_is_found() -> None:
    times = [60.0 * i for i in range(10)]
    rss = [50, 58, 63, 66, 67, 68, 69, 70, 71, 72]  # 1 MB a minute
    trend = second_half_trend(times, rss, tolerance=1.0)
    assert not trend.flat
    assert trend.drift == pytest.approx(4.0)
    assert trend.slope_per_h == pytest.approx(60.0)


def test_falling_is_not_growth() -> None:
    times = [0.0, 1.0, 2.0, 3.0]
    assert second_half_trend(times, [9, 8, 5, 2], tolerance=0.0).flat


def test_two_samples_still_give_a_trend_and_one_gives_none() -> None:
    assert not second_half_trend([0.0, 60.0], [1.0, 5.0], tolerance=1.0).flat
    assert second_half_trend([0.0], [1.0], tolerance=0.0).drift == 0.0


def test_times_and_values_must_pair_up() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        second_half_trend([0.0, 1.0], [1.0], tolerance=0.0)
