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

from typing import TYPE_CHECKING, Any

from edge_controller.domain.security import SecurityEventKind
from edge_controller.uplink.certificates import CertificateStore
from edge_controller.uplink.connection import configured_pair
from edge_controller.uplink.handlers.security import OWN_CERTIFICATE, CertificateOps
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
        self.ops = CertificateOps(link)

    @property
    def store(self) -> CertificateStore | None:
        return self.link.certificates

    async def _event(self, kind: SecurityEventKind, info: str = "") -> None:
        await self.ops.event(kind, info)

    @on("CertificateSigned")
    async def on_certificate_signed(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload.get("certificateType", STATION_CERTIFICATE)
        if kind != STATION_CERTIFICATE:
            return _rejected("NotSupported", f"{kind} is not used by this station")
        refused = await self.ops.signed(str(payload["certificateChain"]))
        return _rejected("InvalidCertificate", refused) if refused else {"status": "Accepted"}

    @on("InstallCertificate")
    async def on_install_certificate(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind, pem = str(payload["certificateType"]), str(payload["certificate"])
        refused = await self.ops.install(kind, pem)
        return _rejected("InvalidCertificate", refused) if refused else {"status": "Accepted"}

    @on("GetInstalledCertificateIds")
    async def on_get_installed(self, payload: dict[str, Any]) -> dict[str, Any]:
        found = self.ops.installed(payload.get("certificateType"))
        if not found:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashDataChain": found}

    @on("DeleteCertificate")
    async def on_delete_certificate(self, payload: dict[str, Any]) -> dict[str, Any]:
        wanted = payload["certificateHashData"]
        own = self.ops.is_own(wanted)
        answer: dict[str, Any] = {"status": await self.ops.delete(wanted)}
        if own:
            answer["statusInfo"] = {"reasonCode": "NotSupported", "additionalInfo": OWN_CERTIFICATE}
        return answer

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
    csr = CertificateOps(session.link).csr()
    if csr is None:
        return
    answer = await session.call_quietly(
        "SignCertificate", {"csr": csr, "certificateType": STATION_CERTIFICATE}
    )
    session.link.log.info(
        "SignCertificate answered", status=answer.get("status") if answer else None
    )
