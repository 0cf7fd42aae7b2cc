"""Certificates on either OCPP version: what the CSMS asks of the station's certificate store
(``uplink.certificates``) decided once, and OCPP 1.6's security extension handlers on it.

1.6 names the CSMS root ``CentralSystemRootCertificate`` and the station ``ChargePoint``;
2.x ``CSMSRootCertificate`` and ``ChargingStation``: the store keeps the 2.x names. 1.6
answers carry a status only (no reason), so the reason is logged.
"""

from __future__ import annotations

import datetime
from typing import Any

from edge_controller.domain.security import SecurityEventKind
from edge_controller.uplink.certificates import CertificateRefused
from edge_controller.uplink.device_model.catalog import ORGANIZATION_KEY
from edge_controller.uplink.link import IdentityLink, Trigger
from edge_controller.uplink.ocpp_compat import call_result
from edge_controller.uplink.rpc import on
from edge_controller.uplink.v201.logs import get_log

TYPES_16 = {"CentralSystemRootCertificate": "CSMSRootCertificate"}
NAMES_16 = {v: k for k, v in TYPES_16.items()}
SIGN_16 = "SignChargePointCertificate"
# ExtendedTriggerMessage: what the station sends (LogStatusNotification: Idle, no log upload
# runs; the rest as TriggerMessage's).
EXTENDED_TRIGGERABLE = frozenset(
    {"BootNotification", "Heartbeat", "StatusNotification", "FirmwareStatusNotification",
     "LogStatusNotification", "MeterValues", SIGN_16}
)  # fmt: skip
RECONFIGURED = SecurityEventKind.RECONFIGURATION_OF_SECURITY_PARAMETERS
OWN_CERTIFICATE = "the station's own certificate is not deleted by DeleteCertificate"


class CertificateOps:
    """The store's operations with their logging and security events."""

    def __init__(self, link: IdentityLink) -> None:
        self.link = link

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.link.now_s(), datetime.UTC)

    async def event(self, kind: SecurityEventKind, info: str = "") -> None:
        if self.link.security is not None:
            await self.link.security.raise_event(kind, info)

    def csr(self) -> str | None:
        """A CSR for a new key (kept on the gateway), or None without a store."""
        store = self.link.certificates
        if store is None:
            return None
        return store.make_csr(self.link.identity, self.link.config.get(ORGANIZATION_KEY) or "")

    async def signed(self, chain: str) -> str:
        """Take a signed chain: "" when taken, else why not."""
        store = self.link.certificates
        if store is None:
            return "no certificate store"
        try:
            store.take_signed(chain, self.link.identity, self._now())
        except CertificateRefused as exc:
            self.link.log.warning("signed certificate refused", reason=str(exc))
            await self.event(SecurityEventKind.INVALID_CHARGING_STATION_CERTIFICATE, str(exc))
            return str(exc)
        self.link.log.info("signed certificate taken; used from the next connection")
        await self.event(RECONFIGURED, "new station certificate")
        return ""

    async def install(self, kind: str, pem: str) -> str:
        """Install a root: "" when installed, else why not."""
        store = self.link.certificates
        if store is None:
            return "no certificate store"
        try:
            store.install(kind, pem, self._now())
        except CertificateRefused as exc:
            self.link.log.warning("certificate not installed", kind=kind, reason=str(exc))
            return str(exc)
        self.link.log.info("root certificate installed", kind=kind)
        await self.event(RECONFIGURED, f"{kind} installed")
        return ""

    def installed(self, kinds: list[str] | None) -> list[dict[str, Any]]:
        store = self.link.certificates
        return store.installed(kinds) if store is not None else []

    async def delete(self, hash_data: dict[str, Any]) -> str:
        """DeleteCertificate's status. The station's own certificate is never deleted this
        way (OCPP 2.0.1 M04.FR.06, 1.6 security extension M04.FR.05): Failed."""
        store = self.link.certificates
        if store is None:
            return "NotFound"
        if store.is_station_certificate(hash_data, self.link.settings.client_cert_file):
            self.link.log.warning("DeleteCertificate refused: " + OWN_CERTIFICATE)
            return "Failed"
        status = store.delete(hash_data, self.link.settings.security_profile >= 2)
        self.link.log.info("DeleteCertificate answered", status=status)
        if status == "Accepted":
            await self.event(RECONFIGURED, "root certificate deleted")
        return status

    def is_own(self, hash_data: dict[str, Any]) -> bool:
        store = self.link.certificates
        configured = self.link.settings.client_cert_file
        return store is not None and store.is_station_certificate(hash_data, configured)


class SecurityHandlers16:
    """OCPP 1.6 security extension, CSMS-initiated: certificates and ExtendedTriggerMessage."""

    link: IdentityLink

    @property
    def _ops(self) -> CertificateOps:
        return CertificateOps(self.link)

    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        refused = await self._ops.signed(certificate_chain)
        return call_result.CertificateSigned(status="Rejected" if refused else "Accepted")

    @on("InstallCertificate")
    async def on_install_certificate(
        self, certificate_type: str, certificate: str, **_: Any
    ) -> Any:
        refused = await self._ops.install(
            TYPES_16.get(certificate_type, certificate_type), certificate
        )
        return call_result.InstallCertificate(status="Rejected" if refused else "Accepted")

    @on("GetInstalledCertificateIds")
    async def on_get_installed(self, certificate_type: str, **_: Any) -> Any:
        found = self._ops.installed([TYPES_16.get(certificate_type, certificate_type)])
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        data = [_snake_hash(entry["certificateHashData"]) for entry in found]
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=data)

    @on("DeleteCertificate")
    async def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        wanted = {_CAMEL.get(k, k): v for k, v in certificate_hash_data.items()}
        return call_result.DeleteCertificate(status=await self._ops.delete(wanted))

    @on("GetLog")
    def on_get_log(
        self, log: dict[str, Any], log_type: str, request_id: int, retries: int | None = None,
        retry_interval: int | None = None, **_: Any,
    ) -> Any:  # fmt: skip
        """The security extension's GetLog, as 2.x's: one upload at a time (a second request
        while one runs is Rejected: 1.6 has no AcceptedCanceled status to report)."""
        request = {"logType": log_type, "requestId": request_id, "retries": retries,
                   "retryInterval": retry_interval,
                   "log": {"remoteLocation": log["remote_location"],
                           "oldestTimestamp": log.get("oldest_timestamp"),
                           "latestTimestamp": log.get("latest_timestamp")}}  # fmt: skip
        answer = get_log(self.link, request, replaces=False)
        if answer["status"] != "Accepted":
            reason = answer.get("statusInfo", {}).get("additionalInfo")
            self.link.log.warning("GetLog rejected", log_type=log_type, reason=reason)
            return call_result.GetLog(status="Rejected")
        return call_result.GetLog(status="Accepted", filename=answer["filename"])

    @on("ExtendedTriggerMessage")
    def on_extended_trigger(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        metering = requested_message != "MeterValues" or self.link.metering is not None
        if requested_message not in EXTENDED_TRIGGERABLE or not metering:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        if requested_message == SIGN_16 and self.link.certificates is None:
            return call_result.ExtendedTriggerMessage(status="Rejected")
        self.link.stage(Trigger(requested_message, connector_id))
        return call_result.ExtendedTriggerMessage(status="Accepted")


_CAMEL = {"hash_algorithm": "hashAlgorithm", "issuer_name_hash": "issuerNameHash",
          "issuer_key_hash": "issuerKeyHash", "serial_number": "serialNumber"}  # fmt: skip
_SNAKE = {v: k for k, v in _CAMEL.items()}


def _snake_hash(data: dict[str, Any]) -> dict[str, Any]:
    return {_SNAKE[k]: v for k, v in data.items()}
