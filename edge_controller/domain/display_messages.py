"""Display messages a CSMS sets for drivers (OCPP 2.x block O): which of them a display shows
now, in which order, and which have ended. Pure: the time and the connectors' views are
arguments.

A message covers the connectors it names (one EVSE, or every connector of its station) and
may be bound to a session: it is shown only while that session runs and ends with it. It is
shown inside its validity window (on the site's one clock) and only while its connector is in
the message's state (none: any state).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from edge_controller.domain.snapshot import Availability, ConnectorView


class Priority(enum.StrEnum):
    ALWAYS_FRONT = "AlwaysFront"  # in front of everything; a newer one replaces it
    IN_FRONT = "InFront"  # before the normal cycle
    NORMAL_CYCLE = "NormalCycle"


class MessageState(enum.StrEnum):
    CHARGING = "Charging"  # a session runs (charging or paused)
    FAULTED = "Faulted"
    IDLE = "Idle"  # no session and not out of order
    UNAVAILABLE = "Unavailable"
    SUSPENDED = "Suspended"  # 2.1: a session runs but no energy flows
    DISCHARGING = "Discharging"  # 2.1: energy flows to the grid (no connector here does)


class MessageFormat(enum.StrEnum):
    ASCII = "ASCII"
    HTML = "HTML"
    URI = "URI"
    UTF8 = "UTF8"
    QRCODE = "QRCODE"  # 2.1: the content is what a QR code shows (a payment page's URL)


PRIORITY_ORDER = (Priority.ALWAYS_FRONT, Priority.IN_FRONT, Priority.NORMAL_CYCLE)
# Every state a connector of this site can be in; Discharging needs bidirectional chargers.
SUPPORTED_STATES = frozenset(MessageState) - {MessageState.DISCHARGING}
# HTML is not rendered (shown escaped it would show its tags): refused rather than garbled.
SUPPORTED_FORMATS = frozenset(MessageFormat) - {MessageFormat.HTML}

_SESSION = (Availability.CHARGING, Availability.SUSPENDED_EV, Availability.SUSPENDED_EVSE)
_SUSPENDED = (Availability.SUSPENDED_EV, Availability.SUSPENDED_EVSE)


@dataclass(frozen=True, slots=True)
class DisplayMessage:
    """One message as the site keeps it. ``seq`` orders arrivals (a newer AlwaysFront message
    hides an older one); times are on the site's clock (UTC s)."""

    message_id: int
    station: str  # the OCPP identity that set it
    priority: Priority
    content: str
    format: MessageFormat = MessageFormat.UTF8
    language: str | None = None
    state: MessageState | None = None
    start_s: float | None = None
    end_s: float | None = None
    connectors: tuple[str, ...] = ()  # the connectors it covers (local ids)
    evse_id: int | None = None  # None: the whole station
    transaction_id: str | None = None  # as the CSMS named it
    session_id: str | None = None  # the local session it ends with
    seq: int = 0
    # The same message in other languages (2.1 messageExtra): (language, content) pairs.
    translations: tuple[tuple[str, str], ...] = ()


def connector_states(view: ConnectorView) -> frozenset[MessageState]:
    """The message states a connector is in now."""
    if view.availability is Availability.FAULTED or view.fault_text is not None:
        return frozenset({MessageState.FAULTED})
    if view.availability is Availability.UNAVAILABLE:
        return frozenset({MessageState.UNAVAILABLE})
    if view.availability in _SUSPENDED:
        return frozenset({MessageState.CHARGING, MessageState.SUSPENDED})
    if view.availability in _SESSION or view.session_id is not None:
        return frozenset({MessageState.CHARGING})
    return frozenset({MessageState.IDLE})


def valid_at(message: DisplayMessage, now_s: float) -> bool:
    starts = message.start_s is None or message.start_s <= now_s
    return starts and (message.end_s is None or now_s < message.end_s)


def _fits(message: DisplayMessage, view: ConnectorView, now_s: float) -> bool:
    if view.connector_id not in message.connectors or not valid_at(message, now_s):
        return False
    if message.session_id is not None and view.session_id != message.session_id:
        return False
    return message.state is None or message.state in connector_states(view)


def in_order(messages: Iterable[DisplayMessage]) -> tuple[DisplayMessage, ...]:
    """Priority order, arrival order within one; of AlwaysFront only the newest."""
    ranked = sorted(messages, key=lambda m: (PRIORITY_ORDER.index(m.priority), m.seq))
    front = [m for m in ranked if m.priority is Priority.ALWAYS_FRONT]
    return tuple(m for m in ranked if m.priority is not Priority.ALWAYS_FRONT or m is front[-1])


def shown(
    messages: Iterable[DisplayMessage], view: ConnectorView, now_s: float
) -> tuple[DisplayMessage, ...]:
    """What a display shows for one connector now, first first."""
    return in_order(m for m in messages if _fits(m, view, now_s))


def shown_for_site(
    messages: Iterable[DisplayMessage], views: Sequence[ConnectorView], now_s: float
) -> tuple[DisplayMessage, ...]:
    """Station-wide messages of a station that covers every connector of the site (one
    station for the whole site), shown while one of its connectors fits them."""
    everyone = {v.connector_id for v in views}
    wide = (
        m for m in messages
        if m.evse_id is None and m.session_id is None and everyone <= set(m.connectors)
    )  # fmt: skip
    return in_order(m for m in wide if any(_fits(m, v, now_s) for v in views))


def connector_messages(
    messages: Iterable[DisplayMessage],
    view: ConnectorView,
    now_s: float,
    site_part: Sequence[DisplayMessage] = (),
) -> tuple[DisplayMessage, ...]:
    """What a connector's own card shows: those of ``site_part`` (``shown_for_site``) are
    shown once for every connector, in the site's part of the display."""
    return tuple(m for m in shown(messages, view, now_s) if m not in site_part)


def ended(
    messages: Iterable[DisplayMessage], views: Sequence[ConnectorView], now_s: float
) -> list[int]:
    """Ids of the messages that are over: past their end, or bound to a session that no longer
    runs on its connector (a connector not read yet tells nothing)."""
    seen = {v.connector_id: v for v in views}
    found = []
    for message in messages:
        if message.end_s is not None and now_s >= message.end_s:
            found.append(message.message_id)
        elif message.session_id is not None:
            current = [seen[c] for c in message.connectors if c in seen]
            if current and all(v.session_id != message.session_id for v in current):
                found.append(message.message_id)
    return found


def in_language(message: DisplayMessage, language: str) -> DisplayMessage | None:
    """The message as shown in ``language`` (its own text, or a translation), None if it
    has neither in that language."""
    if message.language is not None and _same_language(message.language, language):
        return message
    for tag, content in message.translations:
        if _same_language(tag, language):
            return replace(message, content=content, language=tag)
    return None


def for_language(messages: Sequence[DisplayMessage], language: str) -> tuple[DisplayMessage, ...]:
    """Each message in ``language`` where it has it, and those in no language; a message only
    in other languages is shown as it is rather than nothing, when none is in ``language``."""
    found = [m if m.language is None else in_language(m, language) for m in messages]
    mine = [m for m in found if m is not None]
    if any(m.language is not None for m in mine):
        return tuple(mine)
    return tuple(messages)


def _same_language(tag: str, language: str) -> bool:
    return tag.lower().split("-")[0] == language.lower().split("-")[0]
