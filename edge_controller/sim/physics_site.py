"""The site: building base load, chargers wired with phase rotation, meters that sum the loads.

Pure model advanced by :meth:`SiteModel.step`; the clock is an argument (seconds, epoch or any
monotonic origin). Time of day for the base-load profile is ``(now_s + utc_offset_s) % 86400``.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field

from edge_controller.domain.model import Phases3
from edge_controller.sim.physics_charger import ChargerModel

DAY_S = 86_400.0
_PHASE_INDEX = {"L1": 0, "L2": 1, "L3": 2}


@functools.cache  # a handful of rotations, asked for every connector at every step
def rotation_map(rotation: str) -> tuple[int, ...]:
    """Grid phase index (0..2) that each charger terminal L1, L2, L3 is wired to.

    "L2L3L1" means charger L1 sits on grid L2, charger L2 on L3, charger L3 on L1. A single
    phase ("L2") wires the charger's only terminal (its L1) to that grid phase.
    """
    parts = [rotation[i : i + 2] for i in range(0, len(rotation), 2)]
    if not parts or any(p not in _PHASE_INDEX for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"bad phase rotation {rotation!r}")
    return tuple(_PHASE_INDEX[p] for p in parts)


def onto_grid_phases(local_a: Phases3, rotation: str) -> Phases3:
    """Currents on a device's own terminals, placed onto the grid phases they are wired to."""
    grid = [0.0, 0.0, 0.0]
    for terminal, grid_index in enumerate(rotation_map(rotation)):
        grid[grid_index] += local_a[terminal]
    return grid[0], grid[1], grid[2]


def from_grid_phases(grid_a: Phases3, rotation: str) -> Phases3:
    """What a meter wired with ``rotation`` shows on its own L1, L2, L3."""
    mapping = rotation_map(rotation)
    local = [grid_a[mapping[i]] if i < len(mapping) else 0.0 for i in range(3)]
    return local[0], local[1], local[2]


@dataclass(frozen=True, slots=True)
class BaseLoadProfile:
    """Time-of-day steps: from ``at_s`` (seconds after midnight) on, ``current_a`` per phase."""

    steps: tuple[tuple[float, Phases3], ...] = ((0.0, (0.0, 0.0, 0.0)),)

    def __post_init__(self) -> None:
        times = [at for at, _ in self.steps]
        if not times or times != sorted(times) or times[0] < 0 or times[-1] >= DAY_S:
            raise ValueError("base-load steps must be sorted times of day in [0, 86400)")

    def current_a(self, day_s: float) -> Phases3:
        """The step in force at ``day_s``; before the first step the last one still holds."""
        times = [at for at, _ in self.steps]
        index = bisect.bisect_right(times, day_s % DAY_S) - 1
        return self.steps[index][1]


@dataclass(slots=True)
class MeterModel:
    """A meter that measures the base load (grid role) and a set of chargers."""

    role: str  # grid, feeder or connector
    chargers: list[str]
    connector: int | None = None  # a connector meter of one charger connector
    rotation: str = "L1L2L3"
    current_a: Phases3 = (0.0, 0.0, 0.0)  # on the meter's own L1..L3 (signed: <0 exports)
    voltage_v: Phases3 = (230.0, 230.0, 230.0)
    import_wh: float = 0.0
    export_wh: float = 0.0

    @property
    def power_w(self) -> Phases3:
        v, i = self.voltage_v, self.current_a
        return v[0] * i[0], v[1] * i[1], v[2] * i[2]


@dataclass(slots=True)
class ChargerWiring:
    model: ChargerModel
    rotation: str = "L1L2L3"
    feeder: str | None = None


@dataclass(slots=True)
class SiteModel:
    """Everything the simulator serves, advanced together so all readings agree."""

    voltage_v: float = 230.0
    base_load: BaseLoadProfile = field(default_factory=BaseLoadProfile)
    base_override_a: Phases3 | None = None
    utc_offset_s: float = 0.0
    chargers: dict[str, ChargerWiring] = field(default_factory=dict)
    meters: dict[str, MeterModel] = field(default_factory=dict)
    last_s: float | None = None

    def base_current_a(self, now_s: float) -> Phases3:
        if self.base_override_a is not None:
            return self.base_override_a
        return self.base_load.current_a(now_s + self.utc_offset_s)

    def charger_grid_a(self, charger_id: str, connector: int | None = None) -> Phases3:
        """A charger's (or one connector's) draw on the grid phases."""
        wiring = self.chargers[charger_id]
        total = [0.0, 0.0, 0.0]
        for c in wiring.model.connectors:
            if connector is None or c.number == connector:
                for i, amps in enumerate(onto_grid_phases(c.phase_currents_a(), wiring.rotation)):
                    total[i] += amps
        return total[0], total[1], total[2]

    def step(self, now_s: float) -> None:
        for wiring in self.chargers.values():
            wiring.model.step(now_s, self.voltage_v)
        dt_s = 0.0 if self.last_s is None else max(0.0, now_s - self.last_s)
        self.last_s = now_s
        # Each charger's draw once per step, not once per meter that sees it (the grid and every
        # feeder above it): at 1,000 connectors the meters took three quarters of a 35 ms step,
        # which held the simulator's Modbus answers back twice a second.
        totals: dict[str, Phases3] = {}
        for meter in self.meters.values():
            self._step_meter(meter, now_s, dt_s, totals)

    def _charger_total_a(self, charger_id: str, totals: dict[str, Phases3]) -> Phases3:
        total = totals.get(charger_id)
        if total is None:
            total = totals[charger_id] = self.charger_grid_a(charger_id)
        return total

    def _step_meter(
        self, meter: MeterModel, now_s: float, dt_s: float, totals: dict[str, Phases3]
    ) -> None:
        # Energy over the interval uses the power that flowed during it (the previous reading).
        total_w = sum(meter.power_w)
        if total_w >= 0:
            meter.import_wh += total_w * dt_s / 3600.0
        else:
            meter.export_wh += -total_w * dt_s / 3600.0
        grid = [0.0, 0.0, 0.0]
        if meter.role == "grid":
            grid = list(self.base_current_a(now_s))
        for charger_id in meter.chargers:
            if meter.connector is None:
                draw_a = self._charger_total_a(charger_id, totals)
            else:
                draw_a = self.charger_grid_a(charger_id, meter.connector)
            for i, amps in enumerate(draw_a):
                grid[i] += amps
        meter.current_a = from_grid_phases((grid[0], grid[1], grid[2]), meter.rotation)
        meter.voltage_v = (self.voltage_v, self.voltage_v, self.voltage_v)
