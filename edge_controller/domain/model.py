"""Value types shared across the daemon. Units are in the field names; time is an argument."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CpState(enum.Enum):
    """IEC 61851-1 control pilot states, the only charger state above the driver edge."""

    A = "A"  # no vehicle
    B = "B"  # vehicle connected, not ready / paused
    C = "C"  # charging
    D = "D"  # charging with ventilation
    E = "E"  # short / no pilot voltage
    F = "F"  # charger fault / not available

    @property
    def plugged(self) -> bool:
        return self in (CpState.B, CpState.C, CpState.D)

    @property
    def charging(self) -> bool:
        return self in (CpState.C, CpState.D)


Phases3 = tuple[float, float, float]


IEC_MIN_CURRENT_A = 6.0  # the least current a charger may offer for charging (IEC 61851-1)
# The built-in meter of a connector that cannot draw (no EV, or paused at 0 A) and shows no draw
# is read this seldom: the control loop's pollers and check-config's bus model both use it.
IDLE_METER_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class ChargerStatus:
    """What a charger reports, translated from vendor codes at the driver edge."""

    state: CpState
    enabled: bool
    offered_current_a: float
    fault_text: str | None = None
    at_s: float = 0.0


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One reading of a three-phase meter; a single-phase meter fills L1 and zeroes the rest."""

    voltage_v: Phases3
    current_a: Phases3
    power_w: Phases3
    total_power_w: float
    import_energy_wh: float
    export_energy_wh: float
    at_s: float


@dataclass(frozen=True, slots=True)
class Limit:
    """A current limit together with the reason it applies (shown to installers and operators)."""

    current_a: float
    source: str


@dataclass(frozen=True, slots=True)
class Token:
    """A normalised identification token (RFID UID, app id, free-vend id)."""

    id_tag: str
    random_uid: bool = False
    reader_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    key_code: bool = False  # a code a driver typed in (OCPP 2.x KeyCode), not a card
