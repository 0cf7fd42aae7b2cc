"""OCPP 2.0.1 security block A, certificates (A02 station certificate by request of the CSMS,
M03-M05 root certificates) and firmware (L01 answered honestly), against the schema-strict
CSMS in 2.0.1 and 2.1 mode; and the signed certificate used from the next connect with a
real TLS CSMS, falling back to the old one when it does not work."""

from __future__ import annotations

import hashlib
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from edge_controller.sim.csms import BenchCsms
from tests import pki
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
VERSIONS = ["2.0.1", "2.1"]


async def ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> dict[str, Any]:
    count = len(peer.answers(action))
    await peer.send(IDENTITY, action, params)
    await wait_for(lambda: len(peer.answers(action)) > count)
    answer = peer.answers(action)[count]
    assert answer["event"] == "answer", answer
    return dict(answer["result"])


def _hash_of_root(root: pki.Issued) -> dict[str, str]:
    return _hash_of(root.cert, root)


def _hash_of(cert: x509.Certificate, issuer: pki.Issued) -> dict[str, str]:
    """Computed here from the certificate, independently of the station's code."""
    public = issuer.cert.public_key().public_bytes(
        pki.serialization.Encoding.X962, pki.serialization.PublicFormat.UncompressedPoint
    )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(public).hexdigest(),
        "serialNumber": format(cert.serial_number, "x"),
    }


@pytest.mark.parametrize("version", VERSIONS)
async def test_a02_m03_m05_l01_certificates_and_firmware(
    tmp_path: Path, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ca, other = pki.root("csms-root"), pki.root("other-root")
    async with strict_peer(protocols="ocpp" + version) as peer, open_outbox(tmp_path / "db") as ob:
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, FakeSite(), ob, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(peer.calls("BootNotification")) == 1)
            # M05 install: a CA certificate of a type the station uses, nothing else.
            root = {"certificateType": "CSMSRootCertificate", "certificate": ca.cert_pem().decode()}
            assert (await ask(peer, "InstallCertificate", root))["status"] == "Accepted"
            leaf = pki.client(ca, "x").cert_pem().decode()
            not_ca = {"certificateType": "CSMSRootCertificate", "certificate": leaf}
            assert (await ask(peer, "InstallCertificate", not_ca))["status"] == "Rejected"
            v2g = {"certificateType": "V2GRootCertificate", "certificate": ca.cert_pem().decode()}
            assert (await ask(peer, "InstallCertificate", v2g))["status"] == "Rejected"
            # M03 list: the hash data of what was installed.
            listed = await ask(peer, "GetInstalledCertificateIds", {})
            assert listed["certificateHashDataChain"] == [
                {"certificateType": "CSMSRootCertificate",
                 "certificateHashData": _hash_of_root(ca)}
            ]  # fmt: skip
            assert await _variable(peer, "CertificateEntries") == "1"
            organization = _item("OrganizationName") | {"attributeValue": "Example Charging"}
            answer = await ask(peer, "SetVariables", {"setVariableData": [organization]})
            assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
            # A02: the CSMS asks for a CSR, signs it; a chain for another key or root is refused.
            trigger = {"requestedMessage": "SignChargingStationCertificate"}
            assert (await ask(peer, "TriggerMessage", trigger))["status"] == "Accepted"
            await wait_for(lambda: len(peer.calls("SignCertificate")) == 1)
            csr = peer.calls("SignCertificate")[0]["params"]["csr"]
            subject = x509.load_pem_x509_csr(csr.encode()).subject.rfc4514_string()
            assert subject == f"O=Example Charging,CN={IDENTITY}"
            pending = tmp_path / f"certs-{IDENTITY}" / "pending.key"
            assert stat.S_IMODE(pending.stat().st_mode) == 0o600
            key_text = pending.read_text()
            wrong_root = {"certificateChain": pki.sign_csr(other, csr).decode()}
            answer = await ask(peer, "CertificateSigned", wrong_root)
            assert answer["status"] == "Rejected"
            wrong_key = {"certificateChain": pki.client(ca, IDENTITY).cert_pem().decode()}
            assert (await ask(peer, "CertificateSigned", wrong_key))["status"] == "Rejected"
            chain = pki.sign_csr(ca, csr)
            signed = {"certificateChain": chain.decode()}
            assert (await ask(peer, "CertificateSigned", signed))["status"] == "Accepted"
            assert (tmp_path / f"certs-{IDENTITY}" / "new.pem").exists()
            refused = await _delete_own(peer, chain, ca, tmp_path)  # M04.FR.06
            assert refused["statusInfo"]["reasonCode"] == "NotSupported"
            # M04 delete: once, then it is gone.
            delete = {"certificateHashData": _hash_of_root(ca)}
            assert (await ask(peer, "DeleteCertificate", delete))["status"] == "Accepted"
            assert (await ask(peer, "DeleteCertificate", delete))["status"] == "NotFound"
            assert (await ask(peer, "GetInstalledCertificateIds", {}))["status"] == "NotFound"
            await _firmware_refused(peer)
            await wait_for(lambda: _events(peer).count("InvalidChargingStationCertificate") == 2)
    assert peer.invalid() == []
    assert "ReconfigurationOfSecurityParameters" in _events(peer)
    body = "".join(key_text.splitlines()[1:-1])
    logged = capsys.readouterr().out
    assert body[:40] not in logged and "PRIVATE KEY" not in logged


async def test_1_6_security_extension_certificates(tmp_path: Path) -> None:
    """The same store through OCPP 1.6's security extension (its own names for the types),
    against the strict CSMS in 1.6 mode."""
    ca = pki.root("csms-root")
    async with strict_peer(protocols="ocpp1.6") as peer, open_outbox(tmp_path / "db") as ob:
        settings = settings_for(f"ws://127.0.0.1:{peer.port}")
        async with running_uplink(settings, FakeSite(), ob, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(peer.calls("BootNotification")) == 1)
            central = "CentralSystemRootCertificate"
            root = {"certificateType": central, "certificate": ca.cert_pem().decode()}
            assert (await ask(peer, "InstallCertificate", root))["status"] == "Accepted"
            leaf = {"certificateType": central,
                    "certificate": pki.client(ca, "x").cert_pem().decode()}  # fmt: skip
            assert (await ask(peer, "InstallCertificate", leaf))["status"] == "Rejected"
            listed = await ask(peer, "GetInstalledCertificateIds", {"certificateType": central})
            assert listed == {"status": "Accepted", "certificateHashData": [_hash_of_root(ca)]}
            maker = {"certificateType": "ManufacturerRootCertificate"}
            assert (await ask(peer, "GetInstalledCertificateIds", maker))["status"] == "NotFound"
            for message, sent in (("SignChargePointCertificate", "SignCertificate"),
                                  ("LogStatusNotification", "LogStatusNotification")):  # fmt: skip
                trigger = {"requestedMessage": message}
                assert (await ask(peer, "ExtendedTriggerMessage", trigger))["status"] == "Accepted"
                await wait_for(lambda s=sent: len(peer.calls(s)) == 1)  # type: ignore[misc]
            unknown = {"requestedMessage": "MeterValues"}  # no meters in this site
            answer = await ask(peer, "ExtendedTriggerMessage", unknown)
            assert answer["status"] == "NotImplemented"
            csr = peer.calls("SignCertificate")[0]["params"]["csr"]
            wrong = {"certificateChain": pki.client(ca, IDENTITY).cert_pem().decode()}
            assert (await ask(peer, "CertificateSigned", wrong))["status"] == "Rejected"
            chain = pki.sign_csr(ca, csr)
            right = {"certificateChain": chain.decode()}
            assert (await ask(peer, "CertificateSigned", right))["status"] == "Accepted"
            await _delete_own(peer, chain, ca, tmp_path)  # the extension's M04.FR.05
            delete = {"certificateHashData": _hash_of_root(ca)}
            assert (await ask(peer, "DeleteCertificate", delete))["status"] == "Accepted"
            assert (await ask(peer, "DeleteCertificate", delete))["status"] == "NotFound"
    assert peer.calls("LogStatusNotification")[0]["params"] == {"status": "Idle"}
    assert peer.invalid() == []


async def _firmware_refused(peer: StrictPeer) -> None:
    """L01: firmware is not updated over OCPP, and the answer says so."""
    firmware_file = {"location": "https://fw.example/x.bin",
                     "retrieveDateTime": "2030-01-01T00:00:00Z"}  # fmt: skip
    update = {"requestId": 7, "firmware": firmware_file}
    firmware = await ask(peer, "UpdateFirmware", update)
    assert firmware["status"] == "Rejected"
    assert firmware["statusInfo"]["reasonCode"] == "NotSupported"


async def _delete_own(
    peer: StrictPeer, chain: bytes, ca: pki.Issued, state_dir: Path
) -> dict[str, Any]:
    """DeleteCertificate of the station's own (just signed) certificate: Failed, and kept."""
    own = {"certificateHashData": _hash_of(x509.load_pem_x509_certificate(chain), ca)}
    answer = await ask(peer, "DeleteCertificate", own)
    assert answer["status"] == "Failed"
    assert (state_dir / f"certs-{IDENTITY}" / "new.pem").read_bytes() == chain
    return answer


def _item(name: str) -> dict[str, Any]:
    return {"component": {"name": "SecurityCtrlr"}, "variable": {"name": name}}


async def _variable(peer: StrictPeer, name: str) -> str | None:
    answer = await ask(peer, "GetVariables", {"getVariableData": [_item(name)]})
    result = answer["getVariableResult"][0]
    return result.get("attributeValue") if result["attributeStatus"] == "Accepted" else None


def _events(peer: StrictPeer) -> list[str]:
    return [c["params"]["type"] for c in peer.calls("SecurityEventNotification")]


async def test_a02_signed_certificate_is_used_from_the_next_connect_or_falls_back(
    tmp_path: Path,
) -> None:
    ca, other = pki.root("csms-root"), pki.root("other-root")
    server_cert, server_key = pki.server(ca).write(tmp_path, "server")
    ca_file, _ = ca.write(tmp_path, "ca")
    old_cert, old_key = pki.client(ca, IDENTITY).write(tmp_path, "old")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(server_cert, server_key)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(ca_file)
    csms = BenchCsms(versions=("2.0.1",))
    server = await csms.start("127.0.0.1", 0, tls=tls)
    port = next(iter(server.sockets)).getsockname()[1]
    store = tmp_path / f"certs-{IDENTITY}"
    settings = settings_for(f"wss://127.0.0.1:{port}", version="2.0.1", security_profile=3,
                            ca_file=ca_file, client_cert_file=old_cert,
                            client_key_file=old_key)  # fmt: skip
    try:
        async with open_outbox(tmp_path / "db") as outbox:
            # A pair the CSMS does not trust (signed by another root): tried, set aside, and
            # the old pair connects.
            bad = pki.client(other, IDENTITY)
            store.mkdir()
            (store / "new.pem").write_bytes(bad.cert_pem())
            (store / "new.key").write_bytes(bad.key_pem())
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
                await wait_for(lambda: "BootNotification" in csms.actions())
            assert (store / "failed.pem").read_bytes() == bad.cert_pem()
            assert not (store / "new.pem").exists()
            # A good signed pair: used at the next connect and kept as the one in use.
            good = pki.client(ca, IDENTITY)
            (store / "new.pem").write_bytes(good.cert_pem())
            (store / "new.key").write_bytes(good.key_pem())
            before = csms.actions().count("BootNotification")
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
                await wait_for(lambda: csms.actions().count("BootNotification") > before)
            assert (store / "station.pem").read_bytes() == good.cert_pem()
    finally:
        server.close()
        await server.wait_closed()
