"""Which certificate a DeleteCertificate's hash data names: the station's own ones (in use, new,
configured) are told apart from the roots, whose deletion the store does."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509

from edge_controller.uplink.certificates import CertificateStore
from tests import pki


def _named(cert: x509.Certificate) -> dict[str, object]:
    """Issuer name hash and serial, as a CSMS sends them (the key hash is not looked at)."""
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest().upper(),
        "issuerKeyHash": "00",
        "serialNumber": format(cert.serial_number, "X"),
    }


def test_the_station_certificates_are_known_as_its_own(tmp_path: Path) -> None:
    ca = pki.root("csms-root")
    in_use, new, configured = (pki.client(ca, "cp") for _ in range(3))
    store = CertificateStore(tmp_path / "certs")
    store.directory.mkdir()
    (store.directory / "station.pem").write_bytes(in_use.cert_pem() + ca.cert_pem())
    (store.directory / "new.pem").write_bytes(new.cert_pem())
    configured_file, _ = configured.write(tmp_path, "configured")
    for issued in (in_use, new, configured):
        assert store.is_station_certificate(_named(issued.cert), configured_file)
    assert not store.is_station_certificate(_named(configured.cert), None)
    assert not store.is_station_certificate(_named(ca.cert), configured_file)  # the root
    other = _named(in_use.cert) | {"serialNumber": "1"}
    assert not store.is_station_certificate(other, configured_file)
