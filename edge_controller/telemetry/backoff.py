"""Reconnect delay: exponential with full jitter, so a fleet does not reconnect in lockstep."""

from __future__ import annotations

import random


def reconnect_delay_s(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before reconnect ``attempt`` (0 = first retry), in [min_s/2, cap]."""
    cap_s = min(max_s, min_s * (2.0 ** min(attempt, 30)))
    # Half fixed, half random: never zero (no hot loop), never above the cap.
    return cap_s / 2 + rng.uniform(0, cap_s / 2)
