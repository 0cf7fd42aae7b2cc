"""Meter readings from profile points, with plausibility checks (shared by meters and chargers'
built-in meters)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from edge_controller.domain.model import MeterReading, Phases3
from edge_controller.drivers.profiles.schema import MEASUREMENT_POINTS

# Outside these a value is a decoding or wiring fault, whatever the profile says.
_LIMITS = {"voltage": 1000.0, "current": 10_000.0, "power": 10_000_000.0}
BACKWARDS_CONFIRMATIONS = 3  # energy lower this many reads in a row: a meter reset, accept it


def _phases(values: Mapping[str, float], prefix: str) -> Phases3:
    return (
        values.get(f"{prefix}_l1", 0.0),
        values.get(f"{prefix}_l2", 0.0),
        values.get(f"{prefix}_l3", 0.0),
    )


def implausible(values: Mapping[str, float]) -> str | None:
    """Why these raw measurements cannot be right, or None."""
    for name in MEASUREMENT_POINTS:
        if name not in values:
            continue
        value = values[name]
        limit = _LIMITS.get(name.split("_")[0], math.inf)
        if not math.isfinite(value) or abs(value) > limit:
            return f"{name} = {value:g} is implausible"
        if (name.startswith(("voltage", "energy"))) and value < 0:
            return f"{name} = {value:g} is negative"
    return None


def reading_from(values: Mapping[str, float], at_s: float) -> MeterReading:
    power = _phases(values, "power")
    total = values.get("power_total", sum(power))
    return MeterReading(
        voltage_v=_phases(values, "voltage"),
        current_a=_phases(values, "current"),
        power_w=power,
        total_power_w=total,
        import_energy_wh=values.get("energy_import", 0.0),
        export_energy_wh=values.get("energy_export", 0.0),
        at_s=at_s,
    )


class EnergyGuard:
    """Rejects readings whose energy counters run backwards (a glitch, or a wrong decode)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._backwards: dict[str, int] = {}

    def check(self, values: Mapping[str, float]) -> str | None:
        """None if the counters are monotonic (and remembers them), else the reason."""
        for name in ("energy_import", "energy_export"):
            if name not in values:
                continue
            last = self._last.get(name)
            if last is not None and values[name] < last:
                count = self._backwards.get(name, 0) + 1
                self._backwards[name] = count
                if count < BACKWARDS_CONFIRMATIONS:
                    return f"{name} went backwards from {last:g} to {values[name]:g} Wh"
        for name in ("energy_import", "energy_export"):
            if name in values:
                self._last[name] = values[name]
                self._backwards[name] = 0
        return None
