"""Test certificates made with the ``cryptography`` package at test time: roots, a CSMS server
certificate for 127.0.0.1, client certificates, and signing a station's CSR as a CSMS would."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM
DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_bytes(self.cert_pem())
        key.write_bytes(self.key_pem())
        return cert, key


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _builder(subject: x509.Name, issuer: x509.Name, public: object) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + 2 * DAY)
    )


def root(common_name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def _leaf(
    ca: Issued, subject: x509.Name, public: object, usage: x509.ObjectIdentifier
) -> x509.Certificate:
    builder = (
        _builder(subject, ca.cert.subject, public)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def server(ca: Issued) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    return Issued(key, _leaf(ca, _name("csms"), key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH))


def client(ca: Issued, identity: str, organization: str | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(identity, organization)
    return Issued(key, _leaf(ca, subject, key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH))


def sign_csr(ca: Issued, csr_pem: str) -> bytes:
    """What a CSMS returns for a station's CSR: the certificate, then its issuer (PEM)."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    leaf = _leaf(ca, csr.subject, csr.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH)
    return leaf.public_bytes(PEM) + ca.cert_pem()
