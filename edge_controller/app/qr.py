"""The site's payment QR codes (``domain.web_payment``): each connector's fields for the URL
templates, with its nonce made from the site's key (a file, made on first use)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from edge_controller.app.uplink import uplink_topology
from edge_controller.config.settings import Settings
from edge_controller.domain.web_payment import QrCodes, nonce

KEY_FILE = "web-payment.key"
KEY_BYTES = 32


def key_path(settings: Settings) -> Path:
    return settings.payments.web.key_file or settings.storage.state_dir / KEY_FILE


def read_or_make_key(path: Path) -> bytes:
    """The site's nonce key; a new random one (mode 0600) when there is none yet, so the
    stickers printed from it stay valid for as long as the file is kept."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        return key


def qr_codes(settings: Settings, connector_ids: list[str]) -> QrCodes:
    key = read_or_make_key(key_path(settings))
    topology = uplink_topology(settings)
    places = {}
    for cid in connector_ids:
        endpoint = topology.locate(cid)
        places[cid] = {
            "site": settings.site.id,
            "connector": cid,
            "identity": endpoint.identity,
            "evse": str(endpoint.connector),
            "nonce": nonce(key, settings.site.id, cid),
        }
    return QrCodes(places, settings.payments.web.url_template)
