from __future__ import annotations

from edge_controller.services.sessions.sampling import CLOCK, PERIODIC, SampleClock, Sampling


def test_periodic_and_clock_aligned_samples() -> None:
    sampling = Sampling(interval_s=60.0, aligned_s=900.0)
    clock = SampleClock(last_periodic_s=850.0, last_aligned_s=850.0)
    assert clock.due(sampling, 880.0) is None
    assert clock.due(sampling, 900.0) == CLOCK
    clock.taken(CLOCK, 900.0)
    assert clock.due(sampling, 909.0) is None  # 59 s since the last periodic sample
    assert clock.due(sampling, 910.0) == PERIODIC
    clock.taken(PERIODIC, 910.0)
    assert clock.due(sampling, 969.0) is None
    assert clock.due(sampling, 970.0) == PERIODIC


def test_zero_intervals_disable_sampling() -> None:
    clock = SampleClock(0.0, 0.0)
    assert clock.due(Sampling(interval_s=0.0, aligned_s=0.0), 10_000.0) is None


def test_a_clock_stepped_back_keeps_the_samples_coming() -> None:
    """The site's clock is corrected back 30 minutes: a periodic sample is taken at once and
    every interval after it, clock-aligned ones from the next boundary, not 30 minutes later
    (a paid session's cost limit is checked at its readings)."""
    sampling = Sampling(interval_s=60.0, aligned_s=900.0)
    clock = SampleClock(last_periodic_s=3_600.0, last_aligned_s=3_600.0)
    stepped_s = 3_600.0 - 1_800.0 + 10.0
    assert clock.due(sampling, stepped_s) == PERIODIC
    clock.taken(PERIODIC, stepped_s)
    assert clock.due(sampling, stepped_s + 59.0) is None
    assert clock.due(sampling, stepped_s + 60.0) == PERIODIC
    clock.taken(PERIODIC, stepped_s + 60.0)
    assert clock.due(sampling, stepped_s + 119.0) is None
    assert clock.due(sampling, 2_700.0) == CLOCK  # the first boundary after the step
