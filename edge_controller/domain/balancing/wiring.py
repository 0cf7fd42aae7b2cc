"""Phase rotation: a device's L1/L2/L3 land on some permutation of the grid's phases."""

from __future__ import annotations

from dataclasses import replace

from edge_controller.domain.model import MeterReading, Phases3

ROTATIONS: dict[str, tuple[int, ...]] = {
    "L1L2L3": (0, 1, 2),
    "L2L3L1": (1, 2, 0),
    "L3L1L2": (2, 0, 1),
}
ROTATIONS |= {"L1": (0,), "L2": (1,), "L3": (2,)}


def wiring_from_rotation(rotation: str) -> tuple[int, ...]:
    """``"L2L3L1"`` → (1, 2, 0): the grid phase each of the charger's L1, L2, L3 lands on."""
    try:
        return ROTATIONS[rotation]
    except KeyError:
        raise ValueError(f"unknown phase rotation {rotation!r}") from None


def to_grid_phases(values: Phases3, wiring: tuple[int, ...]) -> Phases3:
    """Reorder per-phase ``values`` of a device into grid phase order; ``wiring[i]`` is the grid
    phase (0..2) that the device's phase i is connected to."""
    out = [0.0, 0.0, 0.0]
    for device_phase, grid_phase in enumerate(wiring):
        out[grid_phase] += values[device_phase]
    return (out[0], out[1], out[2])


def reading_to_grid_phases(reading: MeterReading, wiring: tuple[int, ...]) -> MeterReading:
    if tuple(wiring) == (0, 1, 2):
        return reading
    return replace(
        reading,
        voltage_v=to_grid_phases(reading.voltage_v, wiring),
        current_a=to_grid_phases(reading.current_a, wiring),
        power_w=to_grid_phases(reading.power_w, wiring),
    )
