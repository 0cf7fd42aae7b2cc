"""StatusNotification contents from connector views. Pure.

Vendor codes end at the driver edge, so the OCPP errorCode is derived from the fault text the
driver produced; the text itself goes to ``info`` (at most 50 characters by the 1.6 schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_controller.domain.sessions.connector_status import path as status_path
from edge_controller.domain.snapshot import (
    Availability,
    ConnectorState,
    ConnectorView,
    GatewayFault,
)

INFO_MAX_CHARS = 50

_ERROR_WORDS: tuple[tuple[str, str], ...] = (
    ("ground", "GroundFailure"),
    ("rcd", "GroundFailure"),
    ("residual", "GroundFailure"),
    ("overcurrent", "OverCurrentFailure"),
    ("over current", "OverCurrentFailure"),
    ("temperature", "HighTemperature"),
    ("overheat", "HighTemperature"),
    ("voltage", "OverVoltage"),
    ("lock", "ConnectorLockFailure"),
    ("pilot", "EVCommunicationError"),
    ("reader", "ReaderFailure"),
    ("meter", "PowerMeterFailure"),
    ("relay", "PowerSwitchFailure"),
    ("contactor", "PowerSwitchFailure"),
    ("weld", "PowerSwitchFailure"),
)


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    connector: int
    status: str
    error_code: str = "NoError"
    info: str | None = None
    vendor_error_code: str | None = None

    def payload(self, timestamp_iso: str) -> dict[str, object]:
        body: dict[str, object] = {
            "connectorId": self.connector,
            "errorCode": self.error_code,
            "status": self.status,
            "timestamp": timestamp_iso,
        }
        if self.info:
            body["info"] = self.info
        if self.vendor_error_code:
            body["vendorErrorCode"] = self.vendor_error_code
        return body


def error_code(fault_text: str | None) -> str:
    if not fault_text:
        return "NoError"
    lowered = fault_text.lower()
    return next((code for word, code in _ERROR_WORDS if word in lowered), "OtherError")


def connector_status(
    connector: int, view: ConnectorView | ConnectorState, inoperative: bool
) -> ConnectorStatus:
    """A connector's status from its view or state (a connector without one has not been read
    yet: nothing is said about it until it has)."""
    status = view.availability
    if inoperative and not view.session_id and status is not Availability.FAULTED:
        status = Availability.UNAVAILABLE
    text = view.fault_text or view.status_info
    info = text[:INFO_MAX_CHARS] if text else None
    code = error_code(view.fault_text) if status is Availability.FAULTED else "NoError"
    return ConnectorStatus(connector, status.value, code, info)


def steps(previous: str | None, current: ConnectorStatus) -> list[ConnectorStatus]:
    """The StatusNotifications that take a connector from the status last reported to
    ``current`` without a change the OCPP 1.6 table forbids (one plain status in between where
    needed). The charge point itself (connector 0) reports only Available/Unavailable/Faulted."""
    if current.connector == 0 or previous is None:
        return [current]
    path = status_path(Availability(previous), Availability(current.status))
    return [ConnectorStatus(current.connector, s.value) for s in path[:-1]] + [current]


def charge_point_status(inoperative: bool, faults: Sequence[GatewayFault] = ()) -> ConnectorStatus:
    """The charge point's own status (connector 0): while a gateway fault lasts (the site's
    budgets between gateways, which belong to no connector), OtherError with the first fault's
    text (and how many there are) and its key as the vendor's code; NoError once none does.
    Charging goes on meanwhile: Available or Unavailable as without it."""
    status = "Unavailable" if inoperative else "Available"
    if not faults:
        return ConnectorStatus(0, status)
    first = faults[0]
    count = "gateway" if len(faults) == 1 else f"{len(faults)} gateway faults"
    info = f"{count}: {first.text}"[:INFO_MAX_CHARS]
    return ConnectorStatus(0, status, "OtherError", info, first.key[:INFO_MAX_CHARS])
