"""What the CSMS asked to be measured (the measurand lists of MeterValuesSampledData and
MeterValuesAlignedData) taken from one sample, and clock-aligned times. Pure."""

from __future__ import annotations

import math
from decimal import Decimal

from edge_controller.domain.balancing.ev_phases import DEFAULT_RULE
from edge_controller.domain.sessions.events import Conductor, Location, Quantity, Reading
from edge_controller.uplink.ports import MeterSample

DAY_S = 86400.0
LINES = (Conductor.L1, Conductor.L2, Conductor.L3)
TO_NEUTRAL = (Conductor.L1_N, Conductor.L2_N, Conductor.L3_N)


def _reading(
    quantity: Quantity, value: float, conductor: Conductor | None = None,
    location: Location | None = None,
) -> Reading:  # fmt: skip
    """Registers in whole Wh, everything else to one decimal."""
    digits = str(round(value)) if quantity is Quantity.ENERGY_IMPORT_REGISTER_WH else f"{value:.1f}"
    return Reading(quantity, Decimal(digits), conductor, location)


def _per_line(
    quantity: Quantity, values: tuple[float, float, float] | None, conductors: tuple[Conductor, ...]
) -> list[Reading]:
    if values is None:
        return []
    return [_reading(quantity, v, c) for c, v in zip(conductors, values, strict=True)]


def readings(sample: MeterSample, measurands: list[str]) -> tuple[Reading, ...]:
    """The readings of ``measurands`` (OCPP 1.6 names) in their order; what this hardware does
    not measure is left out."""
    out: list[Reading] = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register" and sample.energy_register_wh is not None:
            out.append(_reading(Quantity.ENERGY_IMPORT_REGISTER_WH, sample.energy_register_wh,
                                location=Location.OUTLET))  # fmt: skip
        elif measurand == "Power.Active.Import" and sample.power_w is not None:
            out.append(_reading(Quantity.POWER_IMPORT_W, sample.power_w))
        elif measurand == "Current.Import":
            out += _per_line(Quantity.CURRENT_IMPORT_A, sample.current_a, LINES)
        elif measurand == "Voltage":
            out += _per_line(Quantity.VOLTAGE_V, sample.voltage_v, TO_NEUTRAL)
        elif measurand == "Current.Offered" and sample.offered_current_a is not None:
            out.append(_reading(Quantity.CURRENT_OFFERED_A, sample.offered_current_a))
        elif measurand == "SoC" and sample.soc_pct is not None:
            out.append(_reading(Quantity.STATE_OF_CHARGE_PCT, sample.soc_pct,
                                location=Location.EV))  # fmt: skip
    return tuple(out)


def phases_drawing(sample: MeterSample) -> int | None:
    """On how many of its charger's phases the EV drew when ``sample`` was taken (the same
    threshold as the balancer's phase rule); None when the charger does not measure its
    currents or the EV drew on none (paused, it may resume on any)."""
    if sample.current_a is None:
        return None
    drawing = sum(1 for current_a in sample.current_a if current_a > DEFAULT_RULE.drawing_a)
    return drawing or None


def next_aligned_s(now_s: float, interval_s: float) -> float:
    """The next clock-aligned instant after ``now_s``: midnight UTC plus whole intervals."""
    midnight_s = now_s - now_s % DAY_S
    steps = math.floor((now_s - midnight_s) / interval_s) + 1
    boundary_s = midnight_s + steps * interval_s
    return min(boundary_s, midnight_s + DAY_S)
