"""What happened to a session, as the outbox keeps it: facts, never a protocol message.

A session's start, its meter samples and its end are committed with the session change that
caused them; the uplink renders each one for the protocol of its connection when it sends it
(``uplink/v16/render.py`` for OCPP 1.6). Everything a rendering needs is in the event, so the
same event renders to the same bytes at every attempt. Times are UTC seconds since the epoch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from edge_controller.domain.commands import StopReason
from edge_controller.domain.monitoring import MonitorTriggered
from edge_controller.domain.payments import PaymentTokenIssued, SettlementRecorded
from edge_controller.domain.problems import ProblemHandled, ProblemReported
from edge_controller.domain.security import SecurityEventRaised


class ReadingContext(enum.StrEnum):
    """Why a reading was taken."""

    BEGIN = "begin"  # the start of a session
    END = "end"  # the end of a session
    PERIODIC = "periodic"  # the sample interval of a running session
    CLOCK_ALIGNED = "clock_aligned"  # a whole interval of the clock (midnight UTC + n x interval)
    TRIGGER = "trigger"  # asked for by the CSMS
    LIMIT_SET = "limit_set"  # a transaction limit was set: reported back with this reading
    TARIFF_CHANGED = "tariff_changed"  # the session's tariff changed: reported with this one


class Quantity(enum.StrEnum):
    """What a reading measures; the unit is in the name."""

    ENERGY_IMPORT_REGISTER_WH = "energy_import_register_wh"
    POWER_IMPORT_W = "power_import_w"
    CURRENT_IMPORT_A = "current_import_a"
    CURRENT_OFFERED_A = "current_offered_a"
    VOLTAGE_V = "voltage_v"
    STATE_OF_CHARGE_PCT = "state_of_charge_pct"


class Conductor(enum.StrEnum):
    """The conductor(s) a reading was taken on: a line, or line to neutral."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L1_N = "L1-N"
    L2_N = "L2-N"
    L3_N = "L3-N"


class Location(enum.StrEnum):
    """Where a reading was taken."""

    OUTLET = "outlet"  # the connector's side of the charger
    EV = "ev"  # reported by the vehicle


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value at the resolution it was recorded with (``Decimal("7.5")``: one
    decimal), so every rendering of it writes the same digits."""

    quantity: Quantity
    value: Decimal
    conductor: Conductor | None = None
    location: Location | None = None


class TokenType(enum.StrEnum):
    """Where an id token came from."""

    CARD = "card"  # an RFID card's UID, tapped on a reader
    CENTRAL = "central"  # given by the CSMS (a remote start)
    LOCAL = "local"  # given by a local entry point (MQTT, web, operator)
    FREE_VEND = "free_vend"  # nobody was asked: the site's free-vend token
    KEY_CODE = "key_code"  # a code typed in (OCPP 2.x KeyCode), given by the CSMS in a start
    DIRECT_PAYMENT = "direct_payment"  # a payment card approved at the site's terminal


@dataclass(frozen=True, slots=True)
class IdToken:
    value: str
    type: TokenType


_TOKEN_TYPES = {
    "remote": TokenType.CENTRAL,
    "csms": TokenType.CENTRAL,
    "free": TokenType.FREE_VEND,
    "local": TokenType.CARD,
    "card": TokenType.CARD,
    "payment_terminal": TokenType.DIRECT_PAYMENT,  # Origin.PAYMENT_TERMINAL
}


def token_type_for(source: str) -> TokenType:
    """The token type of a session authorised through ``source`` (``Authorization.source``:
    "local" a card, "remote" the CSMS, "free" free vend, else the ``Origin`` of the command:
    "payment_terminal" a card paid at the site's terminal)."""
    return _TOKEN_TYPES.get(source, TokenType.LOCAL)


@dataclass(frozen=True, slots=True)
class SessionStarted:
    session_local_id: int
    connector_id: str  # ours: "<charger>:<n>"
    at_s: float
    start_register_wh: int
    id_token: IdToken
    reservation_id: int | None = None  # the reservation the session used
    authorized_offline: bool = False
    remote_start_id: int | None = None  # OCPP 2.x: the CSMS's id of the start it requested
    # It joined a transaction its authorisation started (``AuthorizedFirst``): the plug-in is
    # what came last.
    plugged_in_last: bool = False


@dataclass(frozen=True, slots=True)
class MeterSampled:
    """Readings of one connector at one moment, in the order they were asked for."""

    session_local_id: int | None  # None: no session was running on the connector
    connector_id: str
    at_s: float
    context: ReadingContext
    readings: tuple[Reading, ...]
    # How many of the charger's phases the EV drew on when sampled (None: not known).
    phases_used: int | None = None
    # The session's running cost up to this reading (``domain.pricing.codec`` breakdown JSON;
    # None: not priced), kept with the event so a resent one says the same.
    cost: dict[str, Any] | None = None
    # Of a transaction no session runs in (begun before its session or going on after it):
    # no energy is offered there, so the power read says nothing of the charging state.
    outside_session: bool = False


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session_local_id: int
    connector_id: str
    at_s: float
    stop_register_wh: int
    reason: StopReason
    started_at_s: float
    start_register_wh: int
    # The registers at the start and at the end go along with the end (the CSMS asked for
    # the energy register in the end data).
    with_registers: bool = False
    id_token: IdToken | None = None  # the token that stopped it, if one did
    # Its transaction goes on after it (OCPP 2.x TxStopPoint EVConnected or Authorized alone):
    # the session, its energy and its bill end here, the transaction at ``EvWaitEnded``.
    transaction_goes_on: bool = False


@dataclass(frozen=True, slots=True)
class EvConnected:
    """An EV plugged in, not yet authorised, where a transaction starts with the cable (OCPP
    2.x TxStartPoint EVConnected). Its local id is kept for the session that joins it once
    authorised (that session's ``SessionStarted``, with the register its energy counts from),
    so the events of both are one transaction; nothing is charged or billed before that."""

    session_local_id: int
    connector_id: str
    at_s: float


@dataclass(frozen=True, slots=True)
class AuthorizedFirst:
    """A connector authorised before its EV was plugged in, where a transaction starts at the
    authorisation (OCPP 2.x TxStartPoint Authorized): the session joins it at the plug-in
    under its local id; nothing is charged or billed before that."""

    session_local_id: int
    connector_id: str
    at_s: float
    id_token: IdToken
    remote_start_id: int | None = None  # OCPP 2.x: the CSMS's id of the start it requested


@dataclass(frozen=True, slots=True)
class SessionRegisters:
    """The energy register of a session at its start and at its stop (Wh), with their times:
    what its bill counts."""

    started_at_s: float
    start_wh: int
    stopped_at_s: float
    stop_wh: int
    with_begin: bool = False  # the start's register goes along as well (StopTxnSampledData)


@dataclass(frozen=True, slots=True)
class EvWaitEnded:
    """A transaction no session runs in ended. One begun by ``EvConnected`` or
    ``AuthorizedFirst`` that no session joined: the EV left unauthorised (``EV_DISCONNECTED``),
    no EV came in time (``TIMEOUT``), the authorisation was stopped (its reason), the wait was
    given up (``OTHER``), or the daemon stopped (``REBOOT``, ``POWER_LOSS``); no energy,
    nothing flows before both. Or one that went on after its session (``session``: that
    session's registers, the only energy it has; ``SessionEnded.transaction_goes_on``): its EV
    left, or its authorisation ended (``id_token``: the card that ended it, if one did)."""

    session_local_id: int
    connector_id: str
    at_s: float
    reason: StopReason
    session: SessionRegisters | None = None
    id_token: IdToken | None = None


OutboxEvent = (
    SessionStarted
    | EvConnected
    | AuthorizedFirst
    | EvWaitEnded
    | MeterSampled
    | SessionEnded
    | ProblemReported
    | ProblemHandled
    | SecurityEventRaised
    | MonitorTriggered
    | SettlementRecorded
    | PaymentTokenIssued
)
