"""What happened in a session, as far as its price depends on it: the input of ``cost()``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from edge_controller.domain.pricing.tariff import EvseKind


class TimelineError(ValueError):
    """A timeline that cannot be priced; the message names the entry and the reason."""


class Activity(enum.Enum):
    """What the EV does while connected; a reservation is the time before the session."""

    CHARGING = "charging"
    IDLE = "idle"  # connected, not drawing (waiting, paused, or full)
    RESERVED = "reserved"


@dataclass(frozen=True, slots=True)
class RegisterReading:
    """The session meter's import register at a moment, with the power and the current (summed
    over the phases) measured then, when known."""

    at: datetime
    energy_wh: Decimal
    power_w: Decimal | None = None
    current_sum_a: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ActivityChange:
    at: datetime
    activity: Activity


@dataclass(frozen=True, slots=True)
class ReservationSpan:
    """The connector was held for this session from ``start`` until ``end``."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Facts about the session that fixed prices and conditions may ask for."""

    evse_kind: EvseKind | None = None
    payment_brand: str | None = None
    payment_recognition: str | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    """A session from ``started_at`` up to ``until`` (its end, or now for a running cost).

    ``readings`` start with the register at the start of the session; energy is the difference
    of registers. Two readings at the same moment (across a clock step back) are a step of the
    register then; its energy counts in the period that ends there (at the start: the first).
    The EV is idle until the first activity change. ``stop_register_known`` is False when the
    session ended without a final register (power loss): it is then priced up to the last
    reading."""

    started_at: datetime
    until: datetime
    readings: tuple[RegisterReading, ...]
    activity: tuple[ActivityChange, ...] = ()
    stop_register_known: bool = True
    reservation: ReservationSpan | None = None
    context: SessionContext = field(default_factory=SessionContext)

    def __post_init__(self) -> None:
        _check(self)

    def prefix(self, at: datetime) -> Timeline:
        """The timeline as it was known at ``at``: what a running cost is computed from."""
        if not self.started_at <= at <= self.until:
            raise TimelineError(f"prefix at {at.isoformat()}: outside the session")
        return replace(
            self,
            until=at,
            readings=tuple(r for r in self.readings if r.at <= at),
            activity=tuple(c for c in self.activity if c.at <= at),
            stop_register_known=True,
        )


def _aware(where: str, moment: datetime) -> None:
    if moment.utcoffset() is None:
        raise TimelineError(f"{where}: {moment.isoformat()} has no time zone")


def _check(line: Timeline) -> None:
    _aware("started_at", line.started_at)
    _aware("until", line.until)
    if line.until < line.started_at:
        raise TimelineError("until: before started_at")
    if not line.readings:
        raise TimelineError("readings: none (the start register is needed)")
    _check_readings(line)
    previous = line.started_at
    for number, change in enumerate(line.activity):
        _aware(f"activity[{number}]", change.at)
        if change.activity is Activity.RESERVED:
            raise TimelineError(f"activity[{number}]: reserved is not an activity of a session")
        if not previous <= change.at <= line.until:
            raise TimelineError(f"activity[{number}]: out of order or outside the session")
        previous = change.at
    if line.reservation is not None:
        _aware("reservation.start", line.reservation.start)
        _aware("reservation.end", line.reservation.end)
        if not line.reservation.start <= line.reservation.end <= line.started_at:
            raise TimelineError("reservation: must end before the session starts, after it began")


def _check_readings(line: Timeline) -> None:
    previous: RegisterReading | None = None
    for number, reading in enumerate(line.readings):
        where = f"readings[{number}]"
        _aware(where, reading.at)
        if not line.started_at <= reading.at <= line.until:
            raise TimelineError(f"{where}: at {reading.at.isoformat()} outside the session")
        for name in ("energy_wh", "power_w", "current_sum_a"):
            value = getattr(reading, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
                raise TimelineError(f"{where}: {name} {value!r} is not a finite Decimal")
        if previous is not None and reading.at < previous.at:
            raise TimelineError(f"{where}: before the reading before it")
        if previous is not None and reading.energy_wh < previous.energy_wh:
            raise TimelineError(
                f"{where}: register went back from {previous.energy_wh} to {reading.energy_wh} Wh"
            )
        previous = reading
