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
