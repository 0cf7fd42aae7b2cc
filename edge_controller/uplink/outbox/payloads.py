"""Turning an outbox row into the OCPP payload to send. Pure.

Outbox payloads are OCPP 1.6 camelCase objects written by the session side. The sender fills in
what only it knows: the OCPP connector number (``connectorId`` may be our ``"<charger>:<n>"``),
the CSMS ``transactionId`` of the session, and timestamps repaired by the clock sync.
"""

from __future__ import annotations

from typing import Any

from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.topology import Topology

NEEDS_TRANSACTION_ID = frozenset({"StopTransaction", "MeterValues"})


class NotSendable(ValueError):
    """The row can never be sent as it is (it is parked with this reason)."""


def without_nulls(data: Any) -> Any:
    """A copy of the containers in ``data`` without null members (OCPP leaves optional fields
    out instead of sending null); the caller may change the copy freely."""
    if isinstance(data, dict):
        return {k: without_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [without_nulls(v) for v in data if v is not None]
    return data


def _repair_meter_values(values: list[Any], clock: ClockSync) -> None:
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("timestamp"), str):
            value["timestamp"] = clock.repair(value["timestamp"])


def build(
    action: str,
    *,
    payload: dict[str, Any],
    remote_transaction_id: int | None,
    has_session: bool,
    topology: Topology,
    clock: ClockSync,
) -> dict[str, Any]:
    out: dict[str, Any] = without_nulls(payload)  # a fresh copy: the stored row stays as is
    connector = out.get("connectorId")
    if isinstance(connector, str):
        out["connectorId"] = topology.locate(connector).connector
    if isinstance(out.get("timestamp"), str):
        out["timestamp"] = clock.repair(out["timestamp"])
    for key in ("meterValue", "transactionData"):
        if isinstance(out.get(key), list):
            _repair_meter_values(out[key], clock)
    if action in NEEDS_TRANSACTION_ID and has_session:
        if remote_transaction_id is None:
            raise NotSendable("the session's StartTransaction was never confirmed by the CSMS")
        out["transactionId"] = remote_transaction_id
    return out
