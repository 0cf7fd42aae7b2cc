"""Reconnect delays: exponential with jitter, so a fleet of gateways (or of devices on one
gateway) does not reconnect in lockstep. One rule for every link: Modbus, OCPP, MQTT."""

from __future__ import annotations

import random


def reconnect_delay_s(
    attempt: int, min_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Delay before reconnect ``attempt`` (0 = first retry), in [cap/2, cap] where the cap
    doubles from ``min_s`` up to ``max_s``: never zero (no hot loop), never above the cap."""
    cap_s = min(max_s, min_s * (2.0 ** min(attempt, 30)))
    return cap_s / 2 + (rng or random).uniform(0, cap_s / 2)
