"""Card payments at a terminal: what was pre-authorised, what is captured, pure rules only."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum

from edge_controller.domain.pricing.money import Money, round_half_up
from edge_controller.domain.pricing.outlook import CostOutlook, passes
from edge_controller.domain.pricing.tariff import CostLimit, Tariff, TariffError
from edge_controller.domain.snapshot import Availability, ConnectorView


class SettlementStatus(StrEnum):
    SETTLED = "Settled"  # captured at the terminal
    FAILED = "Failed"  # the terminal refused the capture: the operator settles it by hand
    CANCELED = "Canceled"  # nothing was booked: the reservation was released (never priced)


@dataclass(frozen=True, slots=True)
class SettlementRecorded:
    """The one settlement of a paid session, as the outbox keeps it for the CSMS (rendered at
    send time: OCPP 2.1 NotifySettlement, 1.6 and 2.0.1 a costmsg FinalCost)."""

    session_local_id: int
    connector_id: str
    psp_reference: str  # the session's token: the payment as the CSMS saw it start
    status: SettlementStatus
    amount: Money  # booked, or (failed) the priced cost that was to be booked
    at_s: float
    receipt_id: str
    status_info: str = ""


@dataclass(frozen=True, slots=True)
class PaymentTokenIssued:
    """A card pre-authorisation approved: its session is to start with ``token`` (OCPP 1.6 has
    no token type for a direct payment, so a 1.6 CSMS is told of the token before the
    StartTransaction that names it; rendered as a DataTransfer of the site's vendor id)."""

    connector_id: str
    token: str
    amount: Money  # what the card holder pre-authorised
    at_s: float

    @property
    def session_local_id(self) -> None:
        """Told before any session: none is named."""
        return None


class NoTariff(Exception):
    """No tariff prices a session starting on this connector: a card payment there could never
    be captured, so the terminal is not armed."""


UNPRICED = "session not priced (no tariff): pre-authorisation reversed, nothing charged"
NOTHING_DUE = "session cost nothing (no energy flowed): pre-authorisation reversed"


class TerminalState(StrEnum):
    READY = "ready"
    BUSY = "busy"
    OUT_OF_ORDER = "out_of_order"


@dataclass(frozen=True, slots=True)
class TerminalStatus:
    state: TerminalState
    result_code: int  # the terminal's own code, kept for the operator's log
    terminal_id: str = ""


@dataclass(frozen=True, slots=True)
class PaymentAuthorisation:
    """An approved pre-authorisation. ``reference`` is opaque above the driver: it names the
    transaction at the terminal and is the session's token. No card number is ever kept."""

    reference: str
    amount: Money
    card_name: str = ""
    receipt_lines: tuple[str, ...] = ()
    status_texts: tuple[str, ...] = ()  # what the terminal showed the card holder meanwhile


@dataclass(frozen=True, slots=True)
class Capture:
    """The final amount booked against a pre-authorisation."""

    reference: str
    amount: Money
    receipt_lines: tuple[str, ...] = ()
    status_texts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DayClosed:
    """A terminal's end-of-day: what it submitted to the acquirer since the last one."""

    total: Money | None  # None: the terminal did not say
    receipt_lines: tuple[str, ...] = ()


def next_end_of_day_s(now_s: float, at: time, zone: tzinfo) -> float:
    """When the terminal closes its day next: the first ``at`` (site-local) after ``now_s``."""
    local = datetime.fromtimestamp(now_s, zone)
    day = local.date()
    for _ in range(3):  # today, tomorrow, or the day after (a missing local time is skipped)
        candidate = datetime.combine(day, at, zone).timestamp()
        if candidate > now_s:
            return candidate
        day += timedelta(days=1)
    raise ValueError(f"no {at} after {now_s}")


def pre_authorisation_amount(configured: Money, max_cost: Money | None) -> Money:
    """What to reserve on the card: the configured amount, never more than the tariff can cost."""
    if max_cost is None or configured.amount <= max_cost.amount:
        return configured
    return Money(max_cost.amount, configured.currency)


def tariff_cap(tariff: Tariff) -> Money | None:
    """The most a session under ``tariff`` can cost, tax included (None: no max cost)."""
    if tariff.max_cost is None:
        return None
    incl_tax = tariff.max_cost.figures()[1]
    return Money(round_half_up(incl_tax, tariff.currency.minor_units), tariff.currency)


def with_paid_limit(tariff: Tariff, authorised: Money) -> Tariff:
    """``tariff`` for a session paid by a pre-authorisation: it costs at most the authorised
    amount (tax included), as if the tariff's max cost were that (a lower one stays)."""
    if authorised.currency != tariff.currency:
        return tariff
    if tariff.max_cost is not None and tariff.max_cost.figures()[1] <= authorised.amount:
        return tariff
    rates = tariff.energy.tax_rates if tariff.energy is not None else ()
    limit = CostLimit(incl_tax=authorised.amount, tax_rates=rates)
    try:
        return replace(tariff, max_cost=limit)
    except TariffError:  # a min cost above it: the capture is capped at the reservation still
        return tariff


def cost_limit_reached(authorised: Money, running_cost: CostOutlook) -> bool:
    """Whether a paid session must stop: its running cost (tax included) has reached what the
    card holder allowed, or its next reading is projected past it."""
    return passes(authorised.amount, running_cost)


def capture_amount(authorised: Money, final_cost: Money) -> Money:
    """What to book: the session's cost, capped at what the card holder allowed (a session is
    stopped when its cost reaches the pre-authorised amount; rounding may not add a cent)."""
    if final_cost.amount < 0:
        raise ValueError(f"final cost {final_cost} is negative")
    return final_cost if final_cost.amount <= authorised.amount else authorised


TOKEN_PREFIX = "PAY"


def session_token(terminal_id: str, reference: str) -> str:
    """The token a paid session starts with: unique per terminal and reference (two terminals
    count their receipts on their own), 20 characters so it is a valid OCPP 1.6 idTag too."""
    digest = hashlib.sha256(f"{terminal_id}\0{reference}".encode()).hexdigest()
    return TOKEN_PREFIX + digest[:17].upper()


@dataclass(frozen=True, slots=True)
class TerminalChoice:
    """Which connector a card presented at a shared terminal now pays for.

    ``connector_id`` None: the terminal is not armed, because no EV or several EVs wait for
    authorisation at the connectors it serves (``waiting``, in the terminal's order)."""

    connector_id: str | None
    waiting: tuple[str, ...]


def terminal_choice(served: Sequence[str], waiting: Collection[str]) -> TerminalChoice:
    """A press of "pay at this terminal" without naming a connector is for the only EV
    waiting for authorisation at a connector the terminal serves; with none, or with several
    (the choice is ambiguous), nothing is armed and the driver names the connector first."""
    found = tuple(cid for cid in served if cid in waiting)
    return TerminalChoice(found[0] if len(found) == 1 else None, found)


def waiting_for_authorisation(connectors: Sequence[ConnectorView]) -> frozenset[str]:
    """Connectors with an EV plugged in and nobody's authorisation yet."""
    return frozenset(
        c.connector_id
        for c in connectors
        if c.availability is Availability.PREPARING
        and c.session_id is None
        and c.plug_wait_token is None
    )


class NotArmed(StrEnum):
    """Why a terminal that arms itself is not armed now."""

    NONE_WAITING = "none_waiting"  # no EV waits for authorisation at its connectors
    SEVERAL_WAITING = "several_waiting"  # the driver names the connector first
    TERMINAL_BUSY = "terminal_busy"  # another payment runs at it
    TERMINAL_OFFLINE = "terminal_offline"  # it did not answer lately
    NO_TARIFF = "no_tariff"  # nothing prices a session at the waiting EV's connector


@dataclass(frozen=True, slots=True)
class ArmDecision:
    """Whom a terminal arms itself for (``connector_id``), or why it arms for nobody."""

    connector_id: str | None
    reason: NotArmed | None = None
    waiting: tuple[str, ...] = ()  # the EVs waiting at its connectors, in its order


def arm_decision(
    served: Sequence[str],
    waiting: Collection[str],
    terminal: TerminalState,
    unpriced: Collection[str] = (),
) -> ArmDecision:
    """Whether a shared terminal arms itself, and for which connector: for the only EV waiting
    for authorisation at a connector it serves, while it is ready and that session is priced
    (``unpriced``: connectors no tariff prices now). A terminal out of order or busy with
    another payment arms for nobody; so do none and several waiting EVs (then the driver picks
    the connector on the display)."""
    found = terminal_choice(served, waiting).waiting
    if terminal is TerminalState.OUT_OF_ORDER:
        return ArmDecision(None, NotArmed.TERMINAL_OFFLINE, found)
    if terminal is TerminalState.BUSY:
        return ArmDecision(None, NotArmed.TERMINAL_BUSY, found)
    if not found:
        return ArmDecision(None, NotArmed.NONE_WAITING, found)
    if len(found) > 1:
        return ArmDecision(None, NotArmed.SEVERAL_WAITING, found)
    if found[0] in unpriced:
        return ArmDecision(None, NotArmed.NO_TARIFF, found)
    return ArmDecision(found[0], None, found)
