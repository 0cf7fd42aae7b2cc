"""One look at the CSMS for commissioning: does the websocket open with the configured
security profile, how long is its certificate valid, and how far apart are the clocks.

Nothing is sent after the handshake: the connection is closed at once.
"""

from __future__ import annotations

import email.utils
import ssl
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from edge_controller.config.settings import OcppSettings
from edge_controller.uplink.connection import connect_kwargs, identity_url

PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class CsmsProbe:
    error: str | None = None  # why the websocket did not open
    server_time_s: float | None = None  # the CSMS's Date header (whole seconds)
    certificate_expires_s: float | None = None  # wss only: the CSMS certificate's notAfter


def _expiry_s(ssl_object: ssl.SSLObject | None) -> float | None:
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    not_after = certificate.get("notAfter") if certificate else None
    return ssl.cert_time_to_seconds(str(not_after)) if not_after else None


async def probe_csms(settings: OcppSettings, identity: str) -> CsmsProbe:
    kwargs = connect_kwargs(settings, identity) | {"open_timeout": PROBE_TIMEOUT_S}
    try:
        async with connect(identity_url(settings.url or "", identity), **kwargs) as websocket:
            date = websocket.response.headers.get("Date") if websocket.response else None
            expires_s = _expiry_s(websocket.transport.get_extra_info("ssl_object"))
    except InvalidStatus as exc:
        return CsmsProbe(error=f"the CSMS refused the connection (HTTP {exc.response.status_code})")
    except ssl.SSLCertVerificationError as exc:
        return CsmsProbe(error=f"certificate not trusted: {exc.verify_message}")
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        return CsmsProbe(error=f"cannot connect: {exc or type(exc).__name__}")
    server_s = email.utils.parsedate_to_datetime(date).timestamp() if date else None
    return CsmsProbe(server_time_s=server_s, certificate_expires_s=expires_s)
