"""What the site display shows, computed from the site's status view (pure: time is an
argument). The page and its live updates carry the same model, so what a driver sees is exactly
what the view says; the raw figures travel beside the words for anyone who checks them."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_controller.domain.display_messages import (
    DisplayMessage,
    MessageFormat,
    for_language,
    shown,
    shown_for_site,
)
from edge_controller.domain.payments import (
    ArmDecision,
    NotArmed,
    terminal_choice,
    waiting_for_authorisation,
)
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.domain.web_payment import PaymentHold, QrCodes, live_hold
from edge_controller.web.i18n import text


class DisplayState(enum.StrEnum):
    FREE = "free"
    OCCUPIED = "occupied"
    CHARGING = "charging"
    OUT_OF_ORDER = "out_of_order"
    STARTING = "starting"  # the site controller has not read this connector yet


class StartWay(enum.StrEnum):
    """How a driver starts charging at a connector (in the order the page lists them)."""

    FREE = "free"  # free vend: plugging in is enough
    CARD = "card"  # an RFID reader serves this connector
    APP = "app"  # the CSMS can start it (remote start from the operator's app)
    WEB = "web"  # scan the connector's QR code and pay on the web
    TERMINAL = "terminal"  # pay by bank card at the site's card terminal that serves it


_STATE: dict[Availability, tuple[DisplayState, str | None]] = {
    Availability.AVAILABLE: (DisplayState.FREE, None),
    Availability.PREPARING: (DisplayState.OCCUPIED, "detail.preparing"),
    Availability.CHARGING: (DisplayState.CHARGING, None),
    Availability.SUSPENDED_EV: (DisplayState.OCCUPIED, "detail.suspended"),
    Availability.SUSPENDED_EVSE: (DisplayState.OCCUPIED, "detail.suspended"),
    Availability.FINISHING: (DisplayState.OCCUPIED, "detail.finishing"),
    Availability.RESERVED: (DisplayState.OCCUPIED, "detail.reserved"),
    Availability.UNAVAILABLE: (DisplayState.OUT_OF_ORDER, "detail.unavailable"),
    Availability.FAULTED: (DisplayState.OUT_OF_ORDER, None),
}


@dataclass(frozen=True, slots=True)
class DisplaySetup:
    """What the page needs beyond the live view: the site's name and how each connector is
    started (from the config)."""

    site_name: str
    connectors: tuple[str, ...] = ()  # every configured connector, in the page's order
    start_ways: Mapping[str, tuple[StartWay, ...]] = field(default_factory=dict)
    qr: QrCodes = field(default_factory=QrCodes)  # the payment QR codes
    # card terminals by id: the connectors each serves, in the config's order
    terminals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def terminal_of(self, connector_id: str) -> str | None:
        return next((t for t, served in self.terminals.items() if connector_id in served), None)


@dataclass(frozen=True, slots=True)
class Board:
    """What the CSMS set for drivers (``services.display_board``): display messages, 1.6
    payment URL templates by station, connectors held for a web payment."""

    messages: Sequence[DisplayMessage] = ()
    templates: Mapping[str, str] = field(default_factory=dict)
    holds: Mapping[str, PaymentHold] = field(default_factory=dict)
    # the self-arming terminals' decisions by terminal id (others are armed by a press)
    arms: Mapping[str, ArmDecision] = field(default_factory=dict)


def display_state(view: ConnectorView) -> tuple[DisplayState, str | None]:
    """The state a driver sees and the detail key that explains it (None: nothing to add)."""
    state, detail = _STATE[view.availability]
    if view.fault_text is not None and state is not DisplayState.CHARGING:
        return DisplayState.OUT_OF_ORDER, None
    return state, detail


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def format_kw(power_w: float | None, language: str) -> str:
    if power_w is None:
        return text(language, "none")
    return _decimal(f"{max(power_w, 0.0) / 1000:.1f}", language) + " kW"


def format_kwh(energy_wh: float | None, language: str) -> str:
    if energy_wh is None:
        return text(language, "none")
    return _decimal(f"{max(energy_wh, 0.0) / 1000:.2f}", language) + " kWh"


def format_duration(seconds: float | None, language: str) -> str:
    if seconds is None:
        return text(language, "none")
    minutes = int(max(seconds, 0.0) // 60)
    return f"{minutes // 60}:{minutes % 60:02d} h"


def _decimal(number: str, language: str) -> str:
    return number.replace(".", ",") if language == "de" else number


def price_text(price: Mapping[str, Any] | None, language: str) -> str:
    """The price of a session starting now (tax included), as the tariff gives it; empty
    without a tariff."""
    if price is None:
        return ""
    currency = str(price["currency"])
    parts = []
    if price.get("per_kwh") is not None:
        parts.append(text(language, "price.per_kwh", amount=_decimal(price["per_kwh"], language),
                          currency=currency))  # fmt: skip
    if price.get("per_minute_charging") is not None:
        amount = _decimal(price["per_minute_charging"], language)
        parts.append(text(language, "price.per_minute", amount=amount, currency=currency))
    if price.get("per_session") not in (None, "0", "0.00"):
        amount = _decimal(price["per_session"], language)
        parts.append(text(language, "price.per_session", amount=amount, currency=currency))
    if price.get("per_minute_idle") is not None:
        amount = _decimal(price["per_minute_idle"], language)
        after = str(int(price.get("idle_after_s") or 0) // 60)
        key = "price.idle_after" if after != "0" else "price.idle"
        parts.append(text(language, key, amount=amount, currency=currency, minutes=after))
    return " · ".join(parts)


def cost_text(running_cost: Mapping[str, Any] | None, language: str) -> str:
    if running_cost is None:
        return text(language, "none")
    amount = _decimal(str(running_cost["incl_tax"]), language)
    return f"{amount} {running_cost['currency']}"


def message_model(message: DisplayMessage) -> dict[str, Any]:
    """A display message as the page and its updates carry it."""
    return {
        "id": message.message_id,
        "priority": message.priority.value,
        "format": message.format.value,
        "language": message.language,
        "text": message.content,
    }


def _names(connector_ids: Sequence[str]) -> str:
    return ", ".join(connector_ids)


_NOT_ARMED = {
    NotArmed.NONE_WAITING: ("none", "terminal.none"),
    NotArmed.SEVERAL_WAITING: ("ambiguous", "terminal.choose"),
    NotArmed.TERMINAL_BUSY: ("busy", "terminal.busy"),
    NotArmed.TERMINAL_OFFLINE: ("offline", "terminal.offline"),
    NotArmed.NO_TARIFF: ("no_tariff", "terminal.no_tariff"),
}


def _armed_note(arm: ArmDecision, language: str) -> tuple[str, str]:
    """A self-arming terminal's state and what it says: whom a card pays for, or why nobody."""
    if arm.connector_id is not None:
        return "armed", text(language, "terminal.armed", name=arm.connector_id)
    state, key = _NOT_ARMED[arm.reason or NotArmed.NONE_WAITING]
    names = _names(arm.waiting)
    return state, text(language, key, names=names, name=names)


def terminal_model(
    terminal_id: str,
    setup: DisplaySetup,
    waiting: frozenset[str],
    language: str,
    arm: ArmDecision | None = None,
) -> dict[str, Any]:
    """A shared terminal as the site's page shows it: whom a card there pays for now, or why
    it is not armed and what to do (``arm``: the decision of a terminal that arms itself)."""
    served = setup.terminals[terminal_id]
    choice = terminal_choice(served, waiting)
    if arm is not None:
        state, note = _armed_note(arm, language)
    elif choice.connector_id is not None:
        state, note = "ready", text(language, "terminal.ready", name=choice.connector_id)
    elif choice.waiting:
        state = "ambiguous"
        note = text(language, "terminal.ambiguous", names=_names(choice.waiting))
    else:
        state, note = "none", text(language, "terminal.none")
    return {
        "id": terminal_id,
        "connectors": list(served),
        "title": text(language, "terminal.title", terminal=terminal_id),
        "serves_text": text(language, "terminal.serves", names=_names(served)),
        "state": state,
        "for": arm.connector_id if arm is not None else choice.connector_id,
        "note_text": note,
    }


def _start_texts(ways: Sequence[StartWay], terminal: str | None, language: str) -> list[str]:
    return [
        text(language, f"how.{way.value}", terminal=terminal or "")
        for way in ways
        if way is not StartWay.TERMINAL or terminal is not None
    ]


def _terminal_note(
    connector_id: str,
    terminal: str | None,
    setup: DisplaySetup,
    waiting: frozenset[str],
    language: str,
    *,
    arm: ArmDecision | None = None,
) -> str:
    """What a driver at this connector does to pay at its terminal, and why the terminal is
    not armed by itself when EVs wait at several of its connectors."""
    if terminal is None:
        return ""
    if arm is not None and arm.connector_id == connector_id:
        return text(language, "terminal.armed_here", terminal=terminal)
    choice = terminal_choice(setup.terminals[terminal], waiting)
    if choice.connector_id is None and connector_id in choice.waiting:
        return text(language, "terminal.ambiguous_here", terminal=terminal,
                    names=_names(choice.waiting))  # fmt: skip
    return text(language, "terminal.do", terminal=terminal)


def _texts(messages: Sequence[DisplayMessage], language: str) -> list[dict[str, Any]]:
    """The text messages (a QRCODE message is the connector's QR code, not a text)."""
    texts = [m for m in messages if m.format is not MessageFormat.QRCODE]
    return [message_model(m) for m in for_language(texts, language)]


def connector_model(
    view: ConnectorView,
    setup: DisplaySetup,
    language: str,
    now_s: float,
    *,
    board: Board | None = None,
    site_part: Sequence[DisplayMessage] = (),
    waiting: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """One card; ``site_part``: the messages the site's part shows for every connector;
    ``waiting``: the site's connectors whose EV waits for authorisation."""
    board = board or Board()
    here = shown(board.messages, view, now_s)
    code = setup.qr.code(view.connector_id, here, board.templates)
    hold = live_hold(view, board.holds, now_s)
    state, detail = display_state(view)
    if hold is not None:
        detail = "detail.paying"
    in_session = view.session_id is not None
    power_w = _finite(view.power_w) if state is not DisplayState.OUT_OF_ORDER else None
    energy_wh = _finite(view.session_energy_wh) if in_session else None
    started = _finite(view.session_started_s) if in_session else None
    elapsed_s = max(now_s - started, 0.0) if started is not None else None
    ways = setup.start_ways.get(view.connector_id, ()) + ((StartWay.WEB,) if code else ())
    terminal = setup.terminal_of(view.connector_id)
    arm = board.arms.get(terminal) if terminal is not None else None
    return {
        "id": view.connector_id,
        "state": state.value,
        "state_text": text(language, f"state.{state.value}"),
        "detail_text": text(language, detail) if detail is not None else "",
        "help_text": (
            text(language, "help.out_of_order") if state is DisplayState.OUT_OF_ORDER else ""
        ),
        "power_w": power_w,
        "power_text": format_kw(power_w, language),
        "session": in_session,
        "energy_wh": energy_wh,
        "energy_text": format_kwh(energy_wh, language),
        "elapsed_s": None if elapsed_s is None else round(elapsed_s),
        "elapsed_text": format_duration(elapsed_s, language),
        "start_texts": _start_texts(ways, terminal, language),
        "terminal": terminal,
        "terminal_text": _terminal_note(
            view.connector_id, terminal, setup, waiting, language, arm=arm
        ),
        "price_text": price_text(view.price, language),
        "cost_incl_tax": view.running_cost["incl_tax"] if view.running_cost else None,
        "cost_text": cost_text(view.running_cost if in_session else None, language),
        "messages": _texts([m for m in here if m not in site_part], language),
        "payment_url": None if code is None else code.url,
        "paying_until_s": None if hold is None else hold.until_s,
        "at_s": view.at_s,
    }


def display_model(
    view: SiteView,
    setup: DisplaySetup,
    language: str,
    now_s: float,
    only: str | None = None,
    *,
    board: Board | None = None,
) -> dict[str, Any]:
    """The whole display (or one connector of it, ``only``) in ``language``: every configured
    connector, those not read yet as starting; the CSMS's messages for the whole site once,
    each connector's own on its card."""
    seen = {c.connector_id: c for c in view.connectors}
    ids = setup.connectors or tuple(seen)
    board = board or Board()
    site_wide = shown_for_site(board.messages, view.connectors, now_s)
    waiting = waiting_for_authorisation(view.connectors)
    connectors = [
        connector_model(
            seen[cid], setup, language, now_s, board=board, site_part=() if only else site_wide,
            waiting=waiting,
        )
        if cid in seen
        else _starting(cid, setup, language)
        for cid in ids
        if only is None or cid == only
    ]  # fmt: skip
    return {
        "site": setup.site_name,
        "at_s": view.at_s,
        "connectors": connectors,
        "messages": [] if only else _texts(site_wide, language),
        # shared terminals, on the whole site's page only
        "terminals": [
            terminal_model(t, setup, waiting, language, board.arms.get(t))
            for t, served in setup.terminals.items()
            if len(served) > 1 and only is None
        ],
    }


def _starting(connector_id: str, setup: DisplaySetup, language: str) -> dict[str, Any]:
    none = text(language, "none")
    ways = setup.start_ways.get(connector_id, ())
    terminal = setup.terminal_of(connector_id)
    return {
        "id": connector_id,
        "state": DisplayState.STARTING.value,
        "state_text": text(language, "state.starting"),
        "detail_text": "",
        "help_text": "",
        "power_w": None,
        "power_text": none,
        "session": False,
        "energy_wh": None,
        "energy_text": none,
        "elapsed_s": None,
        "elapsed_text": none,
        "start_texts": _start_texts(ways, terminal, language),
        "terminal": terminal,
        "terminal_text": "",
        "price_text": "",
        "cost_incl_tax": None,
        "cost_text": none,
        "messages": [],
        "payment_url": None,
        "paying_until_s": None,
        "at_s": None,
    }
