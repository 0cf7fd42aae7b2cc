"""Reading the simulator's truth: grid currents, offers, charging EVs (plain functions)."""

from __future__ import annotations

from typing import Any

MEASUREMENT_TOLERANCE_A = 0.5  # the meter's own rounding and one physics tick of drift


def grid_a(state: dict[str, Any]) -> list[float]:
    """Per-phase current the simulated grid meter measures now (import is positive)."""
    return [abs(float(v)) for v in state["meters"]["grid"]["current_a"]]


def offers_a(state: dict[str, Any]) -> dict[str, float]:
    return {cid: float(c["offered_a"]) for cid, c in state["connectors"].items()}


def plugged(state: dict[str, Any]) -> list[str]:
    return [cid for cid, c in state["connectors"].items() if c["ev"] is not None]


def charging(state: dict[str, Any]) -> list[str]:
    return [cid for cid, c in state["connectors"].items() if c["state"] == "C"]


def under_limit(state: dict[str, Any], limit_a: float) -> bool:
    return max(grid_a(state)) <= limit_a


def describe(state: dict[str, Any]) -> str:
    parts = [f"grid {grid_a(state)}"]
    for cid, c in state["connectors"].items():
        parts.append(f"{cid} {c['state']} {c['offered_a']} A fs={c['failsafe_active']}")
    return "; ".join(parts)
