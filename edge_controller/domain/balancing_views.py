"""Pure mappings between charger reports, balancing states and status-surface views."""

from __future__ import annotations

from edge_controller.domain.balancing_types import ConnectorState
from edge_controller.domain.model import ChargerStatus, CpState
from edge_controller.domain.snapshot import Availability

_BY_PILOT = {
    CpState.A: ConnectorState.IDLE,
    CpState.B: ConnectorState.WAITING,
    CpState.C: ConnectorState.CHARGING,
    CpState.D: ConnectorState.CHARGING,
    CpState.E: ConnectorState.FAULTED,
    CpState.F: ConnectorState.FAULTED,
}


def connector_state(status: ChargerStatus | None) -> ConnectorState:
    """None (no recent answer) is UNAVAILABLE; a reported fault text is FAULTED."""
    if status is None:
        return ConnectorState.UNAVAILABLE
    if status.fault_text:
        return ConnectorState.FAULTED
    return _BY_PILOT[status.state]


def availability(state: ConnectorState, offered_a: float, enabled: bool) -> Availability:
    if not enabled or state is ConnectorState.UNAVAILABLE:
        return Availability.UNAVAILABLE
    if state is ConnectorState.FAULTED:
        return Availability.FAULTED
    if state is ConnectorState.IDLE:
        return Availability.AVAILABLE
    if state is ConnectorState.CHARGING:
        return Availability.CHARGING
    return Availability.SUSPENDED_EV if offered_a > 0 else Availability.SUSPENDED_EVSE
