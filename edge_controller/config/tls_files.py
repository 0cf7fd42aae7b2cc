"""Checks of the certificate and key files the OCPP security profiles name, at load time: a
wrong file names its key and the reason, and the daemon does not start with it."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

PUBLIC = serialization.PublicFormat.SubjectPublicKeyInfo
DER = serialization.Encoding.DER


def _read(path: Path, key: str) -> bytes:
    expanded = Path(os.path.expandvars(str(path)))
    try:
        return expanded.read_bytes()
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {expanded}: {exc.strerror}") from exc


def certificates(path: Path, key: str) -> list[x509.Certificate]:
    """The PEM certificates in ``path`` (at least one)."""
    try:
        found = x509.load_pem_x509_certificates(_read(path, key))
    except ValueError as exc:
        if str(exc).startswith(f"{key}:"):
            raise
        raise ValueError(f"{key}: {path} holds no PEM certificate") from exc
    return found


def private_key(path: Path, key: str) -> PrivateKeyTypes:
    """The unencrypted PEM private key in ``path``."""
    data = _read(path, key)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise ValueError(f"{key}: {path} is encrypted; the gateway needs it unencrypted") from exc
    except ValueError as exc:
        raise ValueError(f"{key}: {path} holds no readable PEM private key") from exc


def check_client_pair(cert_file: Path, key_file: Path) -> None:
    """The client certificate and its key belong together."""
    leaf = certificates(cert_file, "client_cert_file")[0]
    secret = private_key(key_file, "client_key_file")
    if leaf.public_key().public_bytes(DER, PUBLIC) != secret.public_key().public_bytes(DER, PUBLIC):
        raise ValueError("client_key_file: the key does not belong to client_cert_file")
