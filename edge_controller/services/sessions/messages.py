"""OCPP 1.6 payloads for the session messages queued in the outbox.

``transactionId`` is absent from StopTransaction and MeterValues payloads: it is only known once
the CSMS answered StartTransaction, so the sender adds ``OutboxMessage.remote_transaction_id``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from edge_controller.storage.sessions_store import MessageToQueue

OutboxRoute = Callable[[str], str | None]
"""connector id -> the uplink identity its messages go to; None when nothing goes uplink.

Payloads carry our connector id (``"<charger>:<n>"``) as ``connectorId``; the sender turns it
into the OCPP connector number of that identity."""


def iso_utc(at_s: float) -> str:
    moment = dt.datetime.fromtimestamp(at_s, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def start_message(
    identity: str,
    connector_id: str,
    id_tag: str,
    meter_wh: int,
    at_s: float,
    *,
    reservation_id: int | None = None,
) -> MessageToQueue:
    payload: dict[str, Any] = {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": meter_wh,
        "timestamp": iso_utc(at_s),
    }
    if reservation_id is not None:
        payload["reservationId"] = reservation_id
    return MessageToQueue(identity, "StartTransaction", payload, "start")


def stop_message(
    identity: str,
    id_tag: str | None,
    meter_wh: int,
    at_s: float,
    reason: str,
    *,
    begin: tuple[float, int] | None = None,
) -> MessageToQueue:
    """``begin`` (start time, start register): the transaction's energy register at its begin
    and end go along as ``transactionData`` (the StopTxnSampledData of OCPP 1.6)."""
    payload: dict[str, Any] = {"meterStop": meter_wh, "timestamp": iso_utc(at_s), "reason": reason}
    if id_tag is not None:
        payload["idTag"] = id_tag
    if begin is not None:
        payload["transactionData"] = [
            _register_value(begin[0], begin[1], "Transaction.Begin"),
            _register_value(at_s, meter_wh, "Transaction.End"),
        ]
    return MessageToQueue(identity, "StopTransaction", payload, "stop")


def _register_value(at_s: float, energy_wh: int, context: str) -> dict[str, Any]:
    sampled = {
        "value": str(energy_wh),
        "context": context,
        "measurand": "Energy.Active.Import.Register",
        "unit": "Wh",
    }
    return {"timestamp": iso_utc(at_s), "sampledValue": [sampled]}


def meter_values_message(
    identity: str,
    connector_id: str,
    at_s: float,
    energy: tuple[int, float | None],
    context: str,
) -> MessageToQueue:
    energy_wh, power_w = energy
    sampled: list[dict[str, Any]] = [
        {
            "value": str(energy_wh),
            "context": context,
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
        }
    ]
    if power_w is not None:
        sampled.append(
            {
                "value": f"{power_w:.0f}",
                "context": context,
                "measurand": "Power.Active.Import",
                "unit": "W",
            }
        )
    payload = {
        "connectorId": connector_id,
        "meterValue": [{"timestamp": iso_utc(at_s), "sampledValue": sampled}],
    }
    return MessageToQueue(identity, "MeterValues", payload, "sample")
