"""Which URL a connector's payment QR code opens, and where it comes from; the nonce and the
hold's reservation id."""

from __future__ import annotations

import pytest

from edge_controller.domain.display_messages import DisplayMessage, MessageFormat, Priority
from edge_controller.domain.snapshot import Availability, ConnectorView
from edge_controller.domain.web_payment import (
    CodeSource,
    PaymentCode,
    PaymentHold,
    QrCodes,
    hold_id,
    live_hold,
    nonce,
    render,
    template_problem,
)

KEY = b"k" * 32
PLACES = {
    "a:1": {"site": "lot 7", "connector": "a:1", "identity": "cs", "evse": "1",
            "nonce": nonce(KEY, "lot 7", "a:1")},
}  # fmt: skip
QR = QrCodes(PLACES, "https://pay.example/{site}/{connector}?n={nonce}")


def qr_message(content: str) -> DisplayMessage:
    return DisplayMessage(1, "cs", Priority.NORMAL_CYCLE, content, MessageFormat.QRCODE)


def test_the_csms_message_wins_then_its_key_then_the_config() -> None:
    configured = QR.code("a:1", (), {})
    assert configured == PaymentCode(
        f"https://pay.example/lot%207/a:1?n={PLACES['a:1']['nonce']}", CodeSource.CONFIG
    )
    key = QR.code("a:1", (), {"cs": "https://csms.example/pay/{identity}/{evse}"})
    assert key == PaymentCode("https://csms.example/pay/cs/1", CodeSource.CSMS_KEY)
    text = DisplayMessage(2, "cs", Priority.IN_FRONT, "hello")
    shown = (text, qr_message("https://csms.example/p/123"))
    message = QR.code("a:1", shown, {"cs": "https://csms.example/pay/{evse}"})
    assert message == PaymentCode("https://csms.example/p/123", CodeSource.CSMS_MESSAGE)
    # Another station's key is not this connector's; no template at all: no code.
    assert QR.code("a:1", (), {"other": "https://x/{evse}"}) == configured
    assert QrCodes(PLACES).code("a:1", (), {}) is None
    assert QR.code("z:9", (), {}) is None


def test_a_nonce_is_the_same_every_time_and_differs_per_connector_and_key() -> None:
    assert nonce(KEY, "s", "a:1") == nonce(KEY, "s", "a:1")
    assert len({nonce(KEY, "s", "a:1"), nonce(KEY, "s", "a:2"), nonce(b"x" * 32, "s", "a:1")}) == 3
    assert len(nonce(KEY, "s", "a:1")) == 16


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("https://p/{connector}", None),
        ("ftp://p/{connector}", "must be an http(s) URL"),
        ("https://p/{card}", "unknown placeholder {card}"),
        ("https://p/{connector", "not a template"),
    ],
)
def test_a_template_is_checked(template: str, problem: str | None) -> None:
    found = template_problem(template)
    assert (found is None) if problem is None else (found or "").startswith(problem)


def test_a_url_too_long_for_a_sticker_is_none() -> None:
    assert render("https://p/" + "x" * 600 + "{connector}", {"connector": "a:1"}) is None


def test_a_hold_lives_while_its_reservation_holds_the_connector_and_its_time_lasts() -> None:
    hold = PaymentHold("a:1", hold_id("a:1"), until_s=200.0)
    assert hold.reservation_id < 0 and hold.reservation_id == hold_id("a:1") != hold_id("a:2")
    view = ConnectorView("a:1", Availability.RESERVED, 0.0, "", reservation_id=hold.reservation_id)
    assert live_hold(view, {"a:1": hold}, 100.0) == hold
    assert live_hold(view, {"a:1": hold}, 200.0) is None  # timed out
    freed = ConnectorView("a:1", Availability.AVAILABLE, 0.0, "")
    assert live_hold(freed, {"a:1": hold}, 100.0) is None  # started, or dropped by the site
