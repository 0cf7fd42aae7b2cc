"""Opening the websocket to the CSMS with the configured security profile.

Profile 0: plain. Profile 1: HTTP Basic with the AuthorizationKey (16-20 bytes). Profile 2: as 1
over TLS >= 1.2, the CSMS certificate checked against ``ca_file``. Profile 3: TLS with our client
certificate, no password. Passwords come from files and are never logged.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect

from edge_controller.config.settings import OcppSettings
from edge_controller.uplink import frames
from edge_controller.uplink.certificates import ClientPair
from edge_controller.uplink.dialect import DIALECTS

HANDSHAKE_TIMEOUT_S = 15.0
MAX_QUEUED_FRAMES = 4


def identity_url(base_url: str, identity: str) -> str:
    return base_url.rstrip("/") + "/" + quote(identity, safe="")


def basic_auth_header(identity: str, password: str | bytes) -> str:
    secret = password.encode() if isinstance(password, str) else password
    token = base64.b64encode(identity.encode() + b":" + secret).decode("ascii")
    return f"Basic {token}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """What the station's certificate store adds: CSMS roots the CSMS installed, and the
    client pair to present (a CSMS-signed one replaces the configured pair)."""

    roots: tuple[Path, ...] = ()
    client: ClientPair | None = None


def tls_context(settings: OcppSettings, files: TlsFiles | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    files = files or TlsFiles()
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    for root in files.roots:
        context.load_verify_locations(cafile=str(root))
    if settings.security_profile == 3:
        pair = files.client or configured_pair(settings)
        if pair is not None:
            context.load_cert_chain(str(pair.cert_file), str(pair.key_file))
    return context


def loadable(pair: ClientPair) -> bool:
    """Whether the pair's files make a usable client certificate and key."""
    try:
        ssl.create_default_context().load_cert_chain(str(pair.cert_file), str(pair.key_file))
    except (OSError, ValueError):
        return False
    return True


def configured_pair(settings: OcppSettings) -> ClientPair | None:
    if settings.client_cert_file and settings.client_key_file:
        return ClientPair(settings.client_cert_file, settings.client_key_file, new=False)
    return None


def subprotocols(settings: OcppSettings) -> list[str]:
    """The subprotocols offered, in the configured preference order; the CSMS picks one."""
    return [DIALECTS[version].subprotocol for version in settings.versions]


def connect_kwargs(
    settings: OcppSettings, identity: str, key: bytes | None = None, tls: TlsFiles | None = None
) -> dict[str, Any]:
    """``key``: an AuthorizationKey the CSMS set; it replaces the configured password."""
    headers: dict[str, str] = {}
    password = settings.password.get_secret_value() if settings.password is not None else None
    secret = key if key is not None else password
    if settings.security_profile in (1, 2) and secret is not None:
        headers["Authorization"] = basic_auth_header(identity, secret)
    url = settings.url or ""
    return {
        "subprotocols": subprotocols(settings),
        "additional_headers": headers,
        "ssl": tls_context(settings, tls) if url.startswith("wss://") else None,
        # Pinged by the uplink's keepalive (``uplink/keepalive.py``) with ``ping_interval_s``
        # and ``dead_timeout_s``: one task for the site, not the library's task per connection.
        "ping_interval": None,
        "ping_timeout": None,
        # Hard limit above the soft one: oversize frames get a CALLERROR, not a close.
        "max_size": frames.hard_limit_bytes(settings.max_frame_bytes),
        # Frames read ahead of the endpoint, each up to max_size: the endpoint reads one at a
        # time, so a few suffice, and a thousand connections cannot each hold sixteen.
        "max_queue": MAX_QUEUED_FRAMES,
        "open_timeout": HANDSHAKE_TIMEOUT_S,
        "close_timeout": min(2.0, settings.dead_timeout_s),  # a dead peer answers no close
        "compression": None,
    }


def open_connection(
    settings: OcppSettings, identity: str, key: bytes | None = None, tls: TlsFiles | None = None
) -> connect:
    """``async with await open_connection(...) as ws`` — one connection's lifetime."""
    url = identity_url(settings.url or "", identity)
    return connect(url, **connect_kwargs(settings, identity, key, tls))


def shed_handshake(ws: ClientConnection) -> None:
    """Drop the opening handshake from an open connection: the request's headers (with the
    Authorization of profiles 1 and 2) and the response's were kept for the connection's
    life (some 2 kB), read by nothing once it is open (the subprotocol chosen is kept apart).
    The response itself stays, emptied: the library's parser holds it."""
    ws.request = None
    if ws.response is not None:
        ws.response.headers.clear()


__all__ = [
    "ClientConnection",
    "connect_kwargs",
    "identity_url",
    "open_connection",
    "shed_handshake",
]
