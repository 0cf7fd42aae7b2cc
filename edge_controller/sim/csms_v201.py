"""The bench CSMS's side of an OCPP 2.0.1 or 2.1 station connection.

It records each transaction as the 1.6 side does (``CsmsRecord.transactions``, by the station's
``transactionId``): the energy register at Started (``meterStart``) and at Ended (``stop``), the
samples between, and every ``seqNo`` in the order received, so a gap or a repeat shows.
"""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import snake_to_camel_case  # type: ignore[import-untyped]
from ocpp.v21 import ChargePoint as ChargePoint21  # type: ignore[import-untyped]
from ocpp.v21 import call as call21
from ocpp.v201 import ChargePoint as ChargePoint201  # type: ignore[import-untyped]
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import ServerConnection

from edge_controller.sim.csms import Behaving, BenchCsms, on

REGISTER = "Energy.Active.Import.Register"


class Handlers201(Behaving):
    """Answers shared by 2.0.1 and 2.1 (their answers to these messages agree)."""

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        b = self.csms.behaviour
        return result201.BootNotification(
            current_time=self.csms.now_iso(), interval=b.boot_interval_s, status=b.boot_status
        )

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return result201.Heartbeat(current_time=self.csms.now_iso())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> Any:
        return result201.Authorize(id_token_info={"status": self.csms.behaviour.auth_status})

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> Any:
        return result201.DataTransfer(status="UnknownVendorId")

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return result201.MeterValues()

    @on("NotifyEvent")
    def on_notify_event(self, **_: Any) -> Any:
        return result201.NotifyEvent()

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> Any:
        return result201.SecurityEventNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, **_: Any) -> Any:
        # The bench signs nothing: it says so rather than leaving the station waiting.
        return result201.SignCertificate(status="Rejected")

    @on("TransactionEvent")
    def on_transaction_event(
        self, event_type: str, seq_no: int, transaction_info: dict[str, Any], **rest: Any
    ) -> Any:
        tx_id = str(transaction_info["transaction_id"])
        values = snake_to_camel_case(rest.get("meter_value") or [])
        transactions = self.csms.record.transactions
        if event_type == "Started" and tx_id not in transactions:
            transactions[tx_id] = {
                "identity": self.id,
                "connectorId": (rest.get("evse") or {}).get("id"),
                "idTag": (rest.get("id_token") or {}).get("id_token"),
                "meterStart": _register(values, "Transaction.Begin"),
                "meterValues": [],
                "stop": None,
                "timestamp": rest.get("timestamp"),
                "seqNos": [],
            }
        tx = transactions.get(tx_id)
        if tx is None:
            self.csms.record.unknown_transaction_ids.append(tx_id)
            return result201.TransactionEvent()
        tx["seqNos"].append(seq_no)
        if event_type == "Updated":
            tx["meterValues"].extend(values)
        elif event_type == "Ended":
            reason = transaction_info.get("stopped_reason")
            tx["stop"] = {"meterStop": _register(values, "Transaction.End"), "reason": reason}
        if event_type == "Started":
            return result201.TransactionEvent(
                id_token_info={"status": self.csms.behaviour.auth_status}
            )
        return result201.TransactionEvent()


def _register(values: list[dict[str, Any]], context: str) -> int | None:
    """The energy register in Wh among ``values`` taken in ``context``."""
    for value in values:
        for sampled in value.get("sampledValue", []):
            if sampled.get("context") == context and sampled.get("measurand") == REGISTER:
                return round(float(sampled["value"]))
    return None


class Bench201Handler(Handlers201, ChargePoint201):  # type: ignore[misc]
    requests = call201

    def __init__(self, identity: str, connection: ServerConnection, csms: BenchCsms) -> None:
        super().__init__(identity, connection, response_timeout=30)
        self.csms = csms
        self.connection = connection


class Bench21Handler(Handlers201, ChargePoint21):  # type: ignore[misc]
    requests = call21

    def __init__(self, identity: str, connection: ServerConnection, csms: BenchCsms) -> None:
        super().__init__(identity, connection, response_timeout=30)
        self.csms = csms
        self.connection = connection
