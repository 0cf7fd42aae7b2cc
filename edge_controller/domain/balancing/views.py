"""Pure mappings between charger reports, balancing states and status-surface views."""

from __future__ import annotations

from edge_controller.domain.balancing.types import DemandState
from edge_controller.domain.model import ChargerStatus, CpState
from edge_controller.domain.snapshot import Availability

_BY_PILOT = {
    CpState.A: DemandState.IDLE,
    CpState.B: DemandState.WAITING,
    CpState.C: DemandState.CHARGING,
    CpState.D: DemandState.CHARGING,
    CpState.E: DemandState.FAULTED,
    CpState.F: DemandState.FAULTED,
}


def demand_state(status: ChargerStatus | None) -> DemandState:
    """None (no recent answer) is UNAVAILABLE; a reported fault text is FAULTED."""
    if status is None:
        return DemandState.UNAVAILABLE
    if status.fault_text:
        return DemandState.FAULTED
    return _BY_PILOT[status.state]


def availability(state: DemandState, offered_a: float, enabled: bool) -> Availability:
    if not enabled or state is DemandState.UNAVAILABLE:
        return Availability.UNAVAILABLE
    if state is DemandState.FAULTED:
        return Availability.FAULTED
    if state is DemandState.IDLE:
        return Availability.AVAILABLE
    if state is DemandState.CHARGING:
        return Availability.CHARGING
    return Availability.SUSPENDED_EV if offered_a > 0 else Availability.SUSPENDED_EVSE
