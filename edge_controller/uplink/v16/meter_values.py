"""MeterValues contents: configured measurands from one sample, and clock-aligned times. Pure."""

from __future__ import annotations

import math
from typing import Any

from edge_controller.uplink.ports import MeterSample

DAY_S = 86400.0
PHASE_NAMES = ("L1", "L2", "L3")


def _value(measurand: str, value: float, unit: str, context: str, **extra: str) -> dict[str, Any]:
    text = str(round(value)) if unit == "Wh" else f"{value:.1f}"
    return {"value": text, "context": context, "measurand": measurand, "unit": unit, **extra}


def _phase_values(
    measurand: str, values: tuple[float, float, float] | None, unit: str, context: str, suffix: str
) -> list[dict[str, Any]]:
    if values is None:
        return []
    return [
        _value(measurand, v, unit, context, phase=p + suffix)
        for p, v in zip(PHASE_NAMES, values, strict=True)
    ]


def sampled_values(
    sample: MeterSample, measurands: list[str], context: str
) -> list[dict[str, Any]]:
    """The sampledValue list; measurands this hardware does not measure are left out."""
    out: list[dict[str, Any]] = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register" and sample.energy_register_wh is not None:
            out.append(
                _value(measurand, sample.energy_register_wh, "Wh", context, location="Outlet")
            )
        elif measurand == "Power.Active.Import" and sample.power_w is not None:
            out.append(_value(measurand, sample.power_w, "W", context))
        elif measurand == "Current.Import":
            out += _phase_values(measurand, sample.current_a, "A", context, "")
        elif measurand == "Voltage":
            out += _phase_values(measurand, sample.voltage_v, "V", context, "-N")
        elif measurand == "Current.Offered" and sample.offered_current_a is not None:
            out.append(_value(measurand, sample.offered_current_a, "A", context))
        elif measurand == "SoC" and sample.soc_pct is not None:
            out.append(_value(measurand, sample.soc_pct, "Percent", context, location="EV"))
    return out


def next_aligned_s(now_s: float, interval_s: float) -> float:
    """The next clock-aligned instant after ``now_s``: midnight UTC plus whole intervals."""
    midnight_s = now_s - now_s % DAY_S
    steps = math.floor((now_s - midnight_s) / interval_s) + 1
    boundary_s = midnight_s + steps * interval_s
    return min(boundary_s, midnight_s + DAY_S)
