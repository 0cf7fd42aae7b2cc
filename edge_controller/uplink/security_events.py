"""Raising security events, and what a failed connection says about the CSMS's security.

An event is committed to the outbox first and the identity's sender woken; the sender renders
it (SecurityEventNotification, in 2.x or in 1.6's security extension) when a connection is up;
it is also kept in the identity's security log (``uplink.security_log``).
Events about a failing connection (an untrusted CSMS certificate, a refused password) are
raised once per outage.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass

from websockets.exceptions import InvalidMessage, InvalidStatus

from edge_controller.domain.security import RaisedOnce, SecurityEventKind, SecurityEventRaised
from edge_controller.log import get_logger
from edge_controller.uplink.ports import TransactionOutbox
from edge_controller.uplink.security_log import SecurityLog

Kind = SecurityEventKind
# OpenSSL's reasons, as ``ssl.SSLError.reason`` names them.
_TLS_VERSION = {"UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER", "TLSV1_ALERT_PROTOCOL_VERSION",
                "NO_PROTOCOLS_AVAILABLE", "TLSV1_ALERT_INSUFFICIENT_SECURITY"}  # fmt: skip
_TLS_CIPHER = {"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "SSLV3_ALERT_HANDSHAKE_FAILURE"}
_CLIENT_CERT = {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE",
                "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "TLSV1_ALERT_UNKNOWN_CA",
                "SSLV3_ALERT_CERTIFICATE_EXPIRED", "TLSV1_ALERT_ACCESS_DENIED"}  # fmt: skip
_HANDSHAKE = {"SSLV3_ALERT_HANDSHAKE_FAILURE"}  # TLS 1.2 servers may refuse a certificate so


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connection failed for a security reason: the log line and the event."""

    message: str
    kind: SecurityEventKind
    tech_info: str


def refusal(error: BaseException) -> Refusal | None:
    """The security reason ``error`` (from opening the websocket) stands for, or None. A TLS
    alert that arrives while the HTTP answer is read comes wrapped: its causes are looked at."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None:
            return None
        found = _refusal(seen)
        if found is not None:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def _refusal(error: BaseException) -> Refusal | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        why = str(error.verify_message or error.reason)
        return Refusal(f"CSMS certificate not trusted: {why}", Kind.INVALID_CSMS_CERTIFICATE, why)
    if isinstance(error, ssl.SSLError):
        reason = str(error.reason or "")
        if reason in _TLS_VERSION:
            return Refusal(f"CSMS offers no TLS version >= 1.2 ({reason})",
                           Kind.INVALID_TLS_VERSION, reason)  # fmt: skip
        if reason in _TLS_CIPHER:
            return Refusal(f"no TLS cipher suite in common with the CSMS ({reason})",
                           Kind.INVALID_TLS_CIPHER_SUITE, reason)  # fmt: skip
        if reason in _CLIENT_CERT:
            return Refusal(f"CSMS did not accept our client certificate ({reason})",
                           Kind.FAILED_TO_AUTHENTICATE_AT_CSMS, reason)  # fmt: skip
        return None
    if isinstance(error, InvalidStatus) and error.response.status_code in (401, 403):
        status = error.response.status_code
        return Refusal(f"CSMS refused our credentials (HTTP {status})",
                       Kind.FAILED_TO_AUTHENTICATE_AT_CSMS, f"HTTP {status}")  # fmt: skip
    return None


def pair_refused(error: BaseException) -> bool:
    """Whether the CSMS's TLS refused our client certificate (``error`` from opening the
    websocket over TLS, its causes looked at as ``refusal`` does): an alert naming it, or a
    CSMS that hung up once TLS was set up, before its HTTP answer (how a TLS 1.3 server
    refuses a client certificate: the handshake ends on our side before it looks at it). A
    CSMS that could not be reached, answered HTTP, or whose own certificate we refused says
    nothing against the pair."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None or isinstance(seen, ssl.SSLCertVerificationError | InvalidStatus):
            return False
        if isinstance(seen, ssl.SSLError):
            return str(seen.reason or "") in _CLIENT_CERT | _HANDSHAKE
        if isinstance(seen, InvalidMessage):
            return isinstance(seen.__cause__, EOFError | ConnectionResetError)
        seen = seen.__cause__ or seen.__context__
    return False


# One for every identity, which each line names: a bound logger per identity was some 300
# bytes (its object and context), 0.3 MB at a thousand identities.
_log = get_logger("uplink.security")


class SecurityEvents:
    """One identity's security events: ``raise_event`` commits one and wakes the sender."""

    def __init__(
        self,
        outbox: TransactionOutbox,
        identity: str,
        wake: Callable[[], None],
        now_s: Callable[[], float],
        log_file: SecurityLog | None = None,
    ) -> None:
        """``log_file``: where the events are kept on the gateway (GetLog SecurityLog)."""
        self.log_file = log_file
        self._outbox = outbox
        self._identity = identity
        self._wake = wake
        self._now_s = now_s
        self.once = RaisedOnce()

    async def raise_event(self, kind: SecurityEventKind, tech_info: str = "") -> None:
        event = SecurityEventRaised(kind, self._now_s(), tech_info)
        await self._outbox.append(self._identity, event)
        if self.log_file is not None:
            self.log_file.append(event)
        _log.info("security event", identity=self._identity, kind=kind.value,
                  tech_info=event.tech_info)  # fmt: skip
        self._wake()

    async def refused(self, found: Refusal) -> None:
        """A connection refused for ``found``: logged each time, raised once per outage."""
        _log.error(found.message, identity=self._identity)
        if self.once.first(found.kind):
            await self.raise_event(found.kind, found.tech_info)
