"""Web payment by QR code: which URL a connector's QR code opens, and where it comes from.
Pure.

A connector's QR code opens, first found: the URL of a 2.1 QRCODE display message shown at the
connector now (the CSMS's payment page for it); the URL template a 1.6 CSMS set in its
configuration key; the site's configured template. A template names the connector with
``{site}``, ``{connector}``, ``{identity}``, ``{evse}`` (its OCPP station and number) and
``{nonce}``: a per-connector code made from the site's secret key, so a printed sticker stays
valid and a connector's page cannot be guessed from another's.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from edge_controller.domain.display_messages import DisplayMessage, MessageFormat
from edge_controller.domain.snapshot import ConnectorView

PLACEHOLDERS = frozenset({"site", "connector", "identity", "evse", "nonce"})
MAX_URL_CHARS = 512  # what a QR code on a sticker still reads well with


class CodeSource(enum.StrEnum):
    CSMS_MESSAGE = "csms_message"  # a 2.1 QRCODE display message
    CSMS_KEY = "csms_key"  # the 1.6 configuration key
    CONFIG = "config"  # the site's configured template


@dataclass(frozen=True, slots=True)
class PaymentCode:
    url: str
    source: CodeSource


def nonce(key: bytes, site: str, connector_id: str) -> str:
    """The connector's nonce: 16 hex digits of an HMAC of its name under the site's key."""
    digest = hmac.new(key, f"{site}/{connector_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot make a payment URL (None: it can)."""
    if not template.startswith(("https://", "http://")):
        return "must be an http(s) URL"
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        return f"not a template: {exc}"
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}} (known: {', '.join(sorted(PLACEHOLDERS))})"
    return None


def render(template: str, fields: Mapping[str, str]) -> str | None:
    """The URL for one connector (None: the template cannot make one)."""
    if template_problem(template) is not None:
        return None
    url = template.format_map({k: quote(v, safe=":") for k, v in fields.items()})
    return url if len(url) <= MAX_URL_CHARS else None


@dataclass(frozen=True, slots=True)
class QrCodes:
    """The site's payment QR codes: each connector's fields for the templates and the
    configured template (None: no web payment unless a CSMS sets one)."""

    places: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    template: str | None = None

    def code(
        self,
        connector_id: str,
        shown: Sequence[DisplayMessage],
        csms_templates: Mapping[str, str],
    ) -> PaymentCode | None:
        """The code of a connector given the messages shown there now and the 1.6 keys' templates
        by station (identity)."""
        for message in shown:
            if message.format is MessageFormat.QRCODE:
                return PaymentCode(message.content, CodeSource.CSMS_MESSAGE)
        fields = self.places.get(connector_id)
        if fields is None:
            return None
        from_key = csms_templates.get(fields.get("identity", ""))
        if from_key:
            url = render(from_key, fields)
            if url is not None:
                return PaymentCode(url, CodeSource.CSMS_KEY)
        if self.template is not None:
            url = render(self.template, fields)
            if url is not None:
                return PaymentCode(url, CodeSource.CONFIG)
        return None


@dataclass(frozen=True, slots=True)
class PaymentHold:
    """A connector held for a driver paying on the web (OCPP 2.1 NotifyWebPaymentStarted), by
    a reservation of the session side until ``until_s`` (site clock) or the CSMS's start."""

    connector_id: str
    reservation_id: int
    until_s: float


def hold_id(connector_id: str) -> int:
    """The reservation id of a connector's web payment hold: negative, so never one a CSMS
    gives (theirs are its own numbers, never below zero in practice), and the same for the
    connector every time."""
    digest = hashlib.sha256(connector_id.encode()).digest()
    return -(1 + int.from_bytes(digest[:4], "big") % 2**30)


def live_hold(
    view: ConnectorView, holds: Mapping[str, PaymentHold], now_s: float
) -> PaymentHold | None:
    """The connector's web payment hold while the session side keeps it (its reservation is
    the connector's; the start or the timeout ends it)."""
    hold = holds.get(view.connector_id)
    if hold is None or hold.reservation_id != view.reservation_id or now_s >= hold.until_s:
        return None
    return hold
