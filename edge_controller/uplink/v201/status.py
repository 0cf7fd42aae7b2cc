"""StatusNotification contents for OCPP 2.0.1/2.1 from connector views. Pure.

2.x reports a connector's status in five words; what 1.6 tells apart during a session
(Preparing, Charging, Suspended, Finishing) is Occupied here, the rest is in TransactionEvents.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView

_STATUSES = {
    Availability.AVAILABLE: "Available",
    Availability.RESERVED: "Reserved",
    Availability.UNAVAILABLE: "Unavailable",
    Availability.FAULTED: "Faulted",
}


@dataclass(frozen=True, slots=True)
class EvseStatus:
    evse_id: int
    status: str

    def payload(self, timestamp_iso: str) -> dict[str, object]:
        return {
            "timestamp": timestamp_iso,
            "connectorStatus": self.status,
            "evseId": self.evse_id,
            "connectorId": 1,
        }


def evse_status(
    evse_id: int, view: ConnectorView | ConnectorState, inoperative: bool
) -> EvseStatus:
    """The status of EVSE ``evse_id`` from its connector's view; an inoperative one without a
    session is Unavailable (a fault still shows)."""
    status = _STATUSES.get(view.availability, "Occupied")
    if inoperative and not view.session_id and view.availability is not Availability.FAULTED:
        status = "Unavailable"
    return EvseStatus(evse_id, status)
