"""OCPP 2.0.1/2.1 security block (A), network profiles (B09) and firmware on one connection.

The CSMS signs a certificate for a key made on the gateway (TriggerMessage
SignChargingStationCertificate → SignCertificate → CertificateSigned), installs, lists and
deletes root certificates, sets network profiles, and is told honestly that firmware is not
updated over OCPP.

A signed certificate is checked (for the key of the request, this station, a chain to a
trusted root) and used from the next connect; the pair before it is kept until it works
(``uplink.certificates``). A network profile is stored and tried at the next connect, the one
before kept until it works (``uplink.network_profiles``); none may lower the security profile.
What is refused raises a security event.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from edge_controller.domain.security import SecurityEventKind
from edge_controller.uplink.certificates import CertificateRefused, CertificateStore
from edge_controller.uplink.connection import configured_pair
from edge_controller.uplink.device_model.catalog import ORGANIZATION_KEY
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.network_profiles import NetworkProfile, check_profile
from edge_controller.uplink.rpc import on

if TYPE_CHECKING:
    from edge_controller.uplink.v201.session import Session201

SIGN_TRIGGER = "SignChargingStationCertificate"
STATION_CERTIFICATE = "ChargingStationCertificate"
FIRMWARE_INFO = "firmware is installed with the gateway's packages, not over OCPP"


def _rejected(reason: str, info: str) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": {"reasonCode": reason, "additionalInfo": info}}


class SecurityHandlers201:
    def __init__(self, link: IdentityLink) -> None:
        self.link = link

    @property
    def store(self) -> CertificateStore | None:
        return self.link.certificates

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.link.now_s(), datetime.UTC)

    async def _event(self, kind: SecurityEventKind, info: str = "") -> None:
        if self.link.security is not None:
            await self.link.security.raise_event(kind, info)

    @on("CertificateSigned")
    async def on_certificate_signed(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload.get("certificateType", STATION_CERTIFICATE)
        if self.store is None or kind != STATION_CERTIFICATE:
            return _rejected("NotSupported", f"{kind} is not used by this station")
        chain = str(payload["certificateChain"])
        try:
            self.store.take_signed(chain, self.link.identity, self._now())
        except CertificateRefused as exc:
            self.link.log.warning("signed certificate refused", reason=str(exc))
            await self._event(SecurityEventKind.INVALID_CHARGING_STATION_CERTIFICATE, str(exc))
            return _rejected("InvalidCertificate", str(exc))
        self.link.log.info("signed certificate taken; used from the next connection")
        await self._event(SecurityEventKind.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                          "new station certificate")  # fmt: skip
        return {"status": "Accepted"}

    @on("InstallCertificate")
    async def on_install_certificate(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.store is None:
            return _rejected("NotSupported", "no certificate store")
        kind = str(payload["certificateType"])
        try:
            self.store.install(kind, str(payload["certificate"]), self._now())
        except CertificateRefused as exc:
            self.link.log.warning("certificate not installed", kind=kind, reason=str(exc))
            return _rejected("InvalidCertificate", str(exc))
        self.link.log.info("root certificate installed", kind=kind)
        await self._event(SecurityEventKind.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                          f"{kind} installed")  # fmt: skip
        return {"status": "Accepted"}

    @on("GetInstalledCertificateIds")
    async def on_get_installed(self, payload: dict[str, Any]) -> dict[str, Any]:
        kinds = payload.get("certificateType")
        found = self.store.installed(kinds) if self.store is not None else []
        if not found:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashDataChain": found}

    @on("DeleteCertificate")
    async def on_delete_certificate(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.store is None:
            return {"status": "NotFound"}
        needs_root = self.link.settings.security_profile >= 2
        status = self.store.delete(payload["certificateHashData"], needs_root)
        self.link.log.info("DeleteCertificate answered", status=status)
        if status == "Accepted":
            await self._event(SecurityEventKind.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                              "root certificate deleted")  # fmt: skip
        return {"status": status}

    @on("SetNetworkProfile")
    async def on_set_network_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        network = self.link.network
        if network is None:
            return _rejected("NotSupported", "network profiles are not kept here")
        data, slot = payload["connectionData"], int(payload["configurationSlot"])
        floor = max(network.floor, network.in_use().security_profile)
        why = check_profile(data, floor, self._client_pair(), self._secret())
        if slot < 0:
            why = why or "configurationSlot must not be negative"
        if why:
            self.link.log.warning("SetNetworkProfile rejected", slot=slot, reason=why)
            return _rejected("InvalidNetworkConf", why)
        profile = int(data["securityProfile"])
        timeout_s = float(data["messageTimeout"])
        network.set(NetworkProfile(str(data["ocppCsmsUrl"]), profile, timeout_s, slot))
        self.link.log.info("network profile stored; tried at the next connection", slot=slot,
                           security_profile=profile)  # fmt: skip
        await self._event(SecurityEventKind.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                          f"network profile {slot}")  # fmt: skip
        return {"status": "Accepted"}

    def _client_pair(self) -> bool:
        configured = configured_pair(self.link.settings)
        store = self.store
        return (store.client_pair(configured) if store is not None else configured) is not None

    def _secret(self) -> bool:
        key = self.link.auth_key.load() if self.link.auth_key is not None else None
        return key is not None or self.link.settings.password is not None

    @on("UpdateFirmware")
    async def on_update_firmware(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.link.log.info("UpdateFirmware refused", request_id=payload.get("requestId"))
        return _rejected("NotSupported", FIRMWARE_INFO)


async def send_sign_certificate(session: Session201) -> None:
    """SignCertificate with a CSR for a new key (the CSMS's CertificateSigned follows)."""
    link = session.link
    if link.certificates is None:
        return
    organization = link.config.get(ORGANIZATION_KEY) or ""
    csr = link.certificates.make_csr(link.identity, organization)
    answer = await session.call_quietly(
        "SignCertificate", {"csr": csr, "certificateType": STATION_CERTIFICATE}
    )
    status = answer.get("status") if answer else None
    link.log.info("SignCertificate answered", status=status)
