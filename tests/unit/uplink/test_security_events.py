"""Security events: which connection failures are security refusals, raised once per outage,
stored and read back as they were, and rendered for OCPP 2.x and for 1.6's security extension."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.http11 import Response

from edge_controller.domain.security import (
    MAX_TECH_INFO_CHARS,
    RaisedOnce,
    SecurityEventKind,
    SecurityEventRaised,
)
from edge_controller.storage.outbox.codec import decode, encode
from edge_controller.uplink.clock import PLAUSIBLE_AFTER_S, ClockSync, to_iso
from edge_controller.uplink.security_events import pair_refused, refusal

Kind = SecurityEventKind


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    error.reason = reason
    return error


def _status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "refused", Headers(), b""))


def _verify_failed() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "unable to get local issuer certificate"
    return error


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (_verify_failed(), Kind.INVALID_CSMS_CERTIFICATE, "certificate not trusted"),
        (_ssl_error("UNSUPPORTED_PROTOCOL"), Kind.INVALID_TLS_VERSION, "TLS version"),
        (_ssl_error("TLSV1_ALERT_PROTOCOL_VERSION"), Kind.INVALID_TLS_VERSION, ">= 1.2"),
        (_ssl_error("NO_SHARED_CIPHER"), Kind.INVALID_TLS_CIPHER_SUITE, "cipher suite"),
        (_ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE"), Kind.INVALID_TLS_CIPHER_SUITE, "cipher"),
        (_ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"), Kind.FAILED_TO_AUTHENTICATE_AT_CSMS,
         "client certificate"),
        (_status(401), Kind.FAILED_TO_AUTHENTICATE_AT_CSMS, "HTTP 401"),
        (_status(403), Kind.FAILED_TO_AUTHENTICATE_AT_CSMS, "HTTP 403"),
    ],
)  # fmt: skip
def test_a00_security_refusals_are_named(error: BaseException, kind: Kind, words: str) -> None:
    found = refusal(error)
    assert found is not None and found.kind is kind and words in found.message


def test_a00_a_tls_alert_wrapped_by_the_http_reader_is_found() -> None:
    wrapped = InvalidMessage("did not receive a valid HTTP response")
    wrapped.__cause__ = _ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED")
    found = refusal(wrapped)
    assert found is not None and found.kind is Kind.FAILED_TO_AUTHENTICATE_AT_CSMS


@pytest.mark.parametrize(
    "error", [ConnectionResetError(), _status(500), _ssl_error("SOMETHING_ELSE"), TimeoutError()]
)
def test_other_failures_are_no_security_refusal(error: BaseException) -> None:
    assert refusal(error) is None


def test_a00_raised_once_per_outage() -> None:
    once = RaisedOnce()
    assert once.first(Kind.INVALID_CSMS_CERTIFICATE)
    assert not once.first(Kind.INVALID_CSMS_CERTIFICATE)
    assert once.first(Kind.FAILED_TO_AUTHENTICATE_AT_CSMS)
    once.connected()
    assert once.first(Kind.INVALID_CSMS_CERTIFICATE)


@pytest.mark.parametrize("kind", list(Kind))
def test_a00_every_kind_is_stored_and_read_back_as_it_was(kind: Kind) -> None:
    event = SecurityEventRaised(kind, 1_767_000_000.125, "detail")
    assert decode(*encode(event)) == event


def test_a00_tech_info_fits_the_schema() -> None:
    event = SecurityEventRaised(Kind.INVALID_CSMS_CERTIFICATE, 0.0, "x" * 1000)
    assert len(event.tech_info) == MAX_TECH_INFO_CHARS


def test_a00_setting_system_time_only_when_the_site_time_is_set() -> None:
    """A good local clock is never moved (no event); a clock near 1970 gets its time from the
    CSMS once (an event), and again only when the CSMS's time jumps."""
    good = ClockSync()
    assert not good.sync(to_iso(PLAUSIBLE_AFTER_S + 3600), PLAUSIBLE_AFTER_S + 100)
    early = ClockSync()
    csms_s = PLAUSIBLE_AFTER_S + 10_000
    assert early.sync(to_iso(csms_s), 1000.0)
    assert not early.sync(to_iso(csms_s + 60), 1060.0)
    assert early.sync(to_iso(csms_s + 86_400), 1120.0)


def _rendered(kind: Kind) -> dict[str, Any]:
    from edge_controller.uplink.topology import Topology
    from edge_controller.uplink.v16.render import Connection
    from edge_controller.uplink.v201.render import security_event

    connection = Connection(Topology("site", "s", {"c1": 1}), ClockSync())
    return security_event(SecurityEventRaised(kind, PLAUSIBLE_AFTER_S, ""), connection)


def test_a00_rendered_without_empty_tech_info() -> None:
    assert _rendered(Kind.STARTUP_OF_THE_DEVICE) == {
        "type": "StartupOfTheDevice",
        "timestamp": "2020-01-01T00:00:00.000Z",
    }


@pytest.mark.parametrize("kind", list(Kind))
def test_a00_1_6_sends_them_by_its_security_extension(kind: Kind) -> None:
    from edge_controller.uplink.dialect import OCPP16
    from edge_controller.uplink.schemas import schemas_for
    from edge_controller.uplink.topology import Topology
    from edge_controller.uplink.v16.render import Connection, request

    connection = Connection(Topology("site", "s", {"c1": 1}), ClockSync())
    event = SecurityEventRaised(kind, PLAUSIBLE_AFTER_S + 0.5, "x" * MAX_TECH_INFO_CHARS)
    action, payload = request(event, None, connection)
    assert action == "SecurityEventNotification"
    assert payload == {"type": kind.value, "timestamp": "2020-01-01T00:00:00.500Z",
                       "techInfo": "x" * MAX_TECH_INFO_CHARS}  # fmt: skip
    assert schemas_for(OCPP16).request_problem(action, payload) is None


def _hung_up(cause: BaseException) -> InvalidMessage:
    try:
        raise InvalidMessage("did not receive a valid HTTP response") from cause
    except InvalidMessage as error:
        return error


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (_ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"), True),
        (_ssl_error("TLSV1_ALERT_UNKNOWN_CA"), True),
        (_ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE"), True),
        (_hung_up(EOFError("connection closed while reading HTTP status line")), True),
        (_hung_up(ConnectionResetError()), True),
        (ConnectionRefusedError(111, "Connection refused"), False),  # the CSMS is down
        (TimeoutError(), False),
        (OSError(113, "No route to host"), False),
        (_verify_failed(), False),  # the CSMS's certificate, not ours
        (_status(401), False),  # TLS took the pair; the password is wrong
        (_status(503), False),
        (_ssl_error("UNEXPECTED_EOF_WHILE_READING"), False),
    ],
)  # fmt: skip
def test_a02_a_new_pair_is_given_up_only_when_tls_refused_it(
    error: BaseException, refused: bool
) -> None:
    assert pair_refused(error) is refused
