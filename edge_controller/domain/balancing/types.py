"""Value types of site load balancing; ``balancing.allocate`` explains the decision."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from edge_controller.domain.model import Limit, Phases3

PHASE_COUNT = 3
EPS_A = 1e-6


class DemandState(enum.Enum):
    IDLE = "idle"  # no vehicle
    WAITING = "waiting"  # vehicle plugged, not drawing
    CHARGING = "charging"
    PAUSED = "paused"  # vehicle plugged, paused by us
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"  # the charger does not answer

    @property
    def wants_current(self) -> bool:
        return self in (DemandState.WAITING, DemandState.CHARGING, DemandState.PAUSED)


@dataclass(frozen=True, slots=True)
class Feeder:
    """A sub-circuit with its own per-phase limit; ``parent`` None hangs it below the grid."""

    id: str
    limit_a: float
    parent: str | None = None

    def __post_init__(self) -> None:
        _check_limit(self.limit_a, f"feeder {self.id} limit_a")


@dataclass(frozen=True, slots=True)
class Site:
    """The limit tree: the grid connection (per phase, optional total power) and its feeders.
    ``phase_limits_a``: a lower limit on some phases of the connection than ``grid_limit_a``
    (a child gateway's budget from its parent, which may differ between phases)."""

    grid_limit_a: float
    feeders: tuple[Feeder, ...] = ()
    power_limit_w: float | None = None
    nominal_voltage_v: float = 230.0
    grid_label: str = "grid"
    phase_limits_a: Phases3 | None = None

    def __post_init__(self) -> None:
        _check_limit(self.grid_limit_a, "grid_limit_a")
        if self.power_limit_w is not None:
            _check_limit(self.power_limit_w, "power_limit_w")
        for phase_limit_a in self.phase_limits_a or ():
            _check_limit(phase_limit_a, "phase_limits_a")


def _check_limit(value: float, what: str) -> None:
    """Limits are the site's safety: a negative or NaN one would make every sum pass."""
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Policy:
    """Tunables of the allocation (documented on SiteSettings)."""

    fallback_current_a: float = 6.0
    stale_after_s: float = 10.0
    assumed_building_load_a: float = 0.0
    rotation_interval_s: float = 900.0
    increase_interval_s: float = 5.0
    min_increase_a: float = 1.0
    # A smaller increase is given once its offer has stayed above the held one this long (at
    # the lowest it was meanwhile): the hysteresis spaces raises out, it does not refuse them.
    min_increase_hold_s: float = 30.0
    min_pause_s: float = 60.0
    min_charge_s: float = 60.0
    resolution_a: float = 0.1
    decrease_settle_s: float = 5.0  # EVs follow a lower offer within 5 s (IEC 61851-1)
    # From a decision to the charger's new pilot signal (the write, the charger): the EV's 5 s
    # start only then, so a lowered EV counts at its earlier offer this much longer.
    signal_delay_s: float = 1.0


@dataclass(frozen=True, slots=True)
class GridReading:
    """Per grid phase current at the connection point; ``at_s`` is when it was received."""

    current_a: Phases3
    at_s: float


@dataclass(frozen=True, slots=True)
class ConnectorDemand:
    """Everything allocation needs to know about one connector.

    ``wiring[i]`` is the grid phase (0..2) the connector's L(i+1) lands on; a single-phase charger
    has one entry. ``ev_phases`` is the EV's measured phase use (None: unknown, assume all wired).
    ``measured_current_a`` is in the connector's own phase order. ``limits`` holds every cap with
    its source (cable, EV, CSMS profile, operator). Higher ``priority`` is served first.
    """

    connector_id: str
    state: DemandState
    wiring: tuple[int, ...] = (0, 1, 2)
    feeder: str | None = None
    ev_phases: int | None = None
    min_current_a: float = 6.0
    max_current_a: float = 32.0
    limits: tuple[Limit, ...] = ()
    measured_current_a: Phases3 | None = None
    priority: int = 0
    session_start_s: float | None = None
    session_energy_wh: float = 0.0
    enabled: bool = True  # False: taken out of service by the operator
    charger_enabled: bool = True  # False: the charger itself refuses (e.g. not authorised)
    # Its EV paused itself: read once its offer had switched on there, it did not ask for
    # current (a raise since or not), or, read once its last raise had reached it, asked and
    # drew nothing a signal delay later (a start not read so late may be ramping already), or
    # asked and drew nothing after it had drawn on its offer (it stopped while asking). The
    # loop sets it on connectors raised lately and on those whose EV asks for current.
    paused_itself: bool = False

    @property
    def grid_phases(self) -> tuple[int, ...]:
        """The grid phases this connector's EV loads."""
        wiring, ev_phases = self.wiring, self.ev_phases
        if ev_phases is None or ev_phases >= len(wiring):
            return wiring
        return wiring[: max(ev_phases, 1)]


class ConnectorAllocation(NamedTuple):
    """One connector's offer. ``changed_at_s``: last switch between paused and charging;
    ``increased_at_s``: last increase; ``assumed_current_a``: load reserved for a silent charger;
    ``settling_from_a``: the offer it was last lowered from, which its EV may still draw until
    ``settled_at_s`` (``Policy.decrease_settle_s`` after the lowering); ``held_since_s``: since
    when the hysteresis has held its offer under a higher share without a break (inf: it does
    not), ``held_least_a``: the lowest that share was meanwhile.
    (A named tuple: immutable and cheap to build a thousand times per decision.)"""

    connector_id: str
    current_a: float
    reason: str
    changed_at_s: float = float("-inf")
    increased_at_s: float = float("-inf")
    assumed_current_a: float = 0.0
    settling_from_a: float = 0.0
    settled_at_s: float = float("-inf")
    held_since_s: float = float("inf")
    held_least_a: float = 0.0
    # The building load as read for the last increase (None: no fresh grid reading then).
    raised_on_a: Phases3 | None = None


@dataclass(frozen=True, slots=True)
class Allocation:
    at_s: float
    connectors: Mapping[str, ConnectorAllocation]
    building_load_a: Phases3
    headroom_a: Phases3
    grid_stale: bool
    notes: tuple[str, ...] = field(default=())
    # When the grid reading the building load comes from was received (-inf: none).
    building_at_s: float = float("-inf")

    def current_a(self, connector_id: str) -> float:
        found = self.connectors.get(connector_id)
        return 0.0 if found is None else found.current_a
