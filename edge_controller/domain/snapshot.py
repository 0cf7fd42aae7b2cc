"""Read-only views of the live state for the status surfaces (MQTT, CLI status, OCPP status).

Producers (site controller, session manager, pollers) publish new snapshots; consumers never
drive state through them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from edge_controller.domain.model import Phases3


class Availability(enum.Enum):
    """Connector availability, named as OCPP 1.6 ChargePointStatus names it."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


@dataclass(frozen=True, slots=True)
class ConnectorView:
    connector_id: str
    availability: Availability
    offered_current_a: float
    limit_reason: str
    measured_current_a: Phases3 = (0.0, 0.0, 0.0)
    power_w: float = 0.0
    session_energy_wh: float | None = None
    session_id: str | None = None
    id_tag: str | None = None
    fault_text: str | None = None
    at_s: float = 0.0
    reservation_id: int | None = None  # the reservation holding this connector, if any


@dataclass(frozen=True, slots=True)
class DeviceView:
    device_id: str
    available: bool
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    last_success_s: float | None = None


@dataclass(frozen=True, slots=True)
class SiteView:
    site_id: str
    grid_current_a: Phases3 | None
    grid_limit_a: float
    headroom_a: Phases3 | None
    grid_reading_age_s: float | None
    connectors: tuple[ConnectorView, ...] = ()
    devices: tuple[DeviceView, ...] = ()
    uplink_online: bool = False
    outbox_backlog: int = 0
    at_s: float = 0.0
