"""The station's certificates: its client certificate for security profile 3 (key made on the
gateway, signed by the CSMS), and the root certificates the CSMS installs.

Files, per identity, in ``<state_dir>/certs-<identity>/``:
``station.key``/``station.pem`` the pair in use; ``pending.key`` the key of the last CSR;
``new.key``/``new.pem`` a signed pair not yet used (tried at the next connect, the old pair
kept until it works); ``roots/<type>-<sha256>.pem`` installed roots. Keys are mode 0600 and
written atomically; no key or certificate content is ever logged.

``cryptography`` (about 12 MB resident: its bindings, OpenSSL's library and its modules) is
imported by the functions that read or make a certificate, not with this module: a station
connects and runs without it until the CSMS installs, asks for or signs a certificate.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge_controller.log import get_logger
from edge_controller.textpath import TextPath

if TYPE_CHECKING:
    from cryptography import x509

ROOT_TYPES = ("CSMSRootCertificate", "ManufacturerRootCertificate")
MAX_CHAIN_CERTIFICATES = 5

log = get_logger("uplink.certificates")


class CertificateRefused(ValueError):
    """Why a certificate is not taken (plain words, safe to log)."""


@dataclass(frozen=True, slots=True)
class ClientPair:
    cert_file: Path
    key_file: Path
    new: bool  # a CSMS-signed pair not yet proven by a connection


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    temp.replace(path)


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> dict[str, str]:
    """OCPP CertificateHashData (SHA256): hashes of the issuer's name and public key, and the
    serial number in hexadecimal (a root is its own issuer)."""
    issuer = issuer or cert
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(_key_bits(issuer)).hexdigest(),
        "serialNumber": format(cert.serial_number, "x"),
    }


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey bits (what OCSP's key hash covers)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_bytes(serialization.Encoding.DER, spki)


def _same_key(cert: x509.Certificate, key: object) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = getattr(key, "public_key", None)
    if public is None:
        return False
    der, spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    return bool(cert.public_key().public_bytes(der, spki) == public().public_bytes(der, spki))


def _valid_now(cert: x509.Certificate, now: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_chain(
    chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime.datetime
) -> None:
    """Each certificate issued by the next, the last by one of ``roots``, all valid now;
    raises ``CertificateRefused``."""
    if not chain or len(chain) > MAX_CHAIN_CERTIFICATES:
        raise CertificateRefused("the chain holds no certificate or too many")
    for cert in chain:
        if not _valid_now(cert, now):
            raise CertificateRefused("a certificate of the chain is not valid now")
    for cert, issuer in itertools.pairwise(chain):
        if not _issued_by(cert, issuer):
            raise CertificateRefused("the chain is broken: a certificate not issued by the next")
    last = chain[-1]
    if not any(_issued_by(last, root) and _valid_now(root, now) for root in roots):
        raise CertificateRefused("the chain does not lead to an installed root")


class CertificateStore:
    directory = TextPath()  # kept as text

    def __init__(self, directory: Path, configured_roots: Path | None = None) -> None:
        self.directory = directory
        self._configured_roots = configured_roots

    def _path(self, name: str) -> Path:
        return self.directory / name

    # --- the station's own certificate -------------------------------------------------

    def make_csr(self, identity: str, organization: str) -> str:
        """A new key (kept as ``pending.key``) and its CSR (PEM) naming ``identity``."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        parts = [x509.NameAttribute(NameOID.COMMON_NAME, identity)]
        if organization:
            parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name(parts))
            .sign(key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        secret = key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(self._path("pending.key"), secret)
        return csr.public_bytes(pem).decode("ascii")

    def take_signed(self, chain_pem: str, identity: str, now: datetime.datetime) -> None:
        """Keep a CSMS-signed chain for the pending key as the new pair; raises
        ``CertificateRefused`` (nothing changes then)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.x509.oid import NameOID

        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            raise CertificateRefused("the chain is no PEM certificate") from None
        try:
            pending = self._path("pending.key").read_bytes()
        except FileNotFoundError:
            raise CertificateRefused("no certificate was asked for (no pending key)") from None
        key = serialization.load_pem_private_key(pending, password=None)
        leaf = chain[0]
        if not _same_key(leaf, key):
            raise CertificateRefused("the certificate is not for the key of the request")
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or names[0].value != identity:
            raise CertificateRefused("the certificate names another station")
        check_chain(chain, self.roots(), now)
        _write_private(self._path("new.key"), pending)
        _write_private(self._path("new.pem"), chain_pem.encode())
        self._path("pending.key").unlink()

    def client_pair(self, configured: ClientPair | None) -> ClientPair | None:
        """The pair for the next connect: a new one not yet tried, else the one in use, else
        the configured one."""
        new_cert, new_key = self._path("new.pem"), self._path("new.key")
        if new_cert.exists() and new_key.exists():
            return ClientPair(new_cert, new_key, new=True)
        cert, key = self._path("station.pem"), self._path("station.key")
        if cert.exists() and key.exists():
            return ClientPair(cert, key, new=False)
        return configured

    def new_pair_worked(self) -> None:
        """The new pair connected: it is the one in use from now on."""
        for kind in ("pem", "key"):
            self._path(f"new.{kind}").replace(self._path(f"station.{kind}"))
        log.info("new station certificate in use")

    def new_pair_failed(self) -> None:
        """The new pair did not connect: it is set aside and the old one used again."""
        for kind in ("pem", "key"):
            source = self._path(f"new.{kind}")
            if source.exists():
                source.replace(self._path(f"failed.{kind}"))
        log.warning("new station certificate did not connect; back to the previous one")

    # --- roots ---------------------------------------------------------------------------

    def _root_files(self) -> list[tuple[str, Path]]:
        folder = self._path("roots")
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("*.pem")):
            kind = path.name.split("-", 1)[0]
            if kind in ROOT_TYPES:
                found.append((kind, path))
        return found

    def roots(self) -> list[x509.Certificate]:
        """Every root trusted: installed ones and the configured ``ca_file``'s."""
        from cryptography import x509

        found = [x509.load_pem_x509_certificate(p.read_bytes()) for _, p in self._root_files()]
        if self._configured_roots is not None:
            found += x509.load_pem_x509_certificates(self._configured_roots.read_bytes())
        return found

    def csms_root_files(self) -> list[Path]:
        return [p for kind, p in self._root_files() if kind == "CSMSRootCertificate"]

    def install(self, kind: str, pem: str, now: datetime.datetime) -> None:
        """Keep a root of ``kind``; raises ``CertificateRefused``."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        if kind not in ROOT_TYPES:
            raise CertificateRefused(f"{kind} is not used by this station")
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise CertificateRefused("not a PEM certificate") from None
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise CertificateRefused("not a CA certificate")
        if not _valid_now(cert, now):
            raise CertificateRefused("not valid now")
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        path = self._path("roots") / f"{kind}-{fingerprint}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        temp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        temp.replace(path)

    def installed(self, kinds: list[str] | None) -> list[dict[str, object]]:
        """CertificateHashDataChain entries of the installed roots of ``kinds`` (None: all)."""
        from cryptography import x509

        found: list[dict[str, object]] = []
        for kind, path in self._root_files():
            if kinds is None or kind in kinds:
                cert = x509.load_pem_x509_certificate(path.read_bytes())
                found.append({"certificateType": kind, "certificateHashData": hash_data(cert)})
        return found

    def is_station_certificate(self, wanted: dict[str, object], configured: Path | None) -> bool:
        """Whether ``wanted`` (CertificateHashData) names the station's own certificate: the
        pair in use, a new one not yet tried, or the configured one. An issuer's name and a
        serial number name one certificate; the issuer's key is not always at hand."""
        from cryptography import x509

        keys = ("issuerNameHash", "serialNumber")
        for path in (self._path("station.pem"), self._path("new.pem"), configured):
            if path is None or not path.exists():
                continue
            try:
                leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
            except (OSError, ValueError):
                continue
            data = hash_data(leaf)
            if all(str(wanted.get(k, "")).lower() == data[k] for k in keys):
                return True
        return False

    def delete(self, wanted: dict[str, object], tls_needs_a_root: bool) -> str:
        """DeleteCertificate: Accepted, NotFound, or Failed for the last CSMS root while the
        connection needs one (no ``ca_file`` beside it): the station could not connect again."""
        from cryptography import x509

        keys = ("issuerNameHash", "issuerKeyHash", "serialNumber")
        for kind, path in self._root_files():
            data = hash_data(x509.load_pem_x509_certificate(path.read_bytes()))
            if not all(str(wanted.get(k, "")).lower() == data[k] for k in keys):
                continue
            alone = kind == "CSMSRootCertificate" and len(self.csms_root_files()) == 1
            if alone and tls_needs_a_root and self._configured_roots is None:
                return "Failed"
            path.unlink()
            return "Accepted"
        return "NotFound"
