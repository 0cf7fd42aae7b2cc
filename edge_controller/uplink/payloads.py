"""Turning an outbox row into the OCPP payload to send. Pure.

Outbox payloads are OCPP 1.6 camelCase objects written by the session side. The sender fills in
what only it knows: the OCPP connector number (``connectorId`` may be our ``"<charger>:<n>"``),
the CSMS ``transactionId`` of the session, and timestamps repaired by the clock sync.
"""

from __future__ import annotations

import copy
from typing import Any

from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.topology import Topology

NEEDS_TRANSACTION_ID = frozenset({"StopTransaction", "MeterValues"})


class NotSendable(ValueError):
    """The row can never be sent as it is (it is parked with this reason)."""


def _repair_meter_values(values: list[dict[str, Any]], clock: ClockSync) -> None:
    for value in values:
        if isinstance(value.get("timestamp"), str):
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
    out = copy.deepcopy(payload)
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
