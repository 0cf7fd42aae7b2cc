"""Ports: the small Protocols through which services use devices. Drivers implement them.

One capability, one Protocol. Optional abilities are separate Protocols detected at wiring time
with ``isinstance`` (they are ``runtime_checkable``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from edge_controller.domain.model import ChargerStatus, MeterReading, Token
from edge_controller.domain.payments import (
    Capture,
    DayClosed,
    PaymentAuthorisation,
    TerminalStatus,
)
from edge_controller.domain.pricing.money import Money


class DeviceError(Exception):
    """Base of the errors a driver raises; nothing above a driver sees a library's error."""


class DeviceUnavailable(DeviceError):
    """The device did not answer (timeout, connection refused, bus down). Transient."""


class DeviceBusy(DeviceUnavailable):
    """The device answered, but runs something else now and refused the command: to be tried
    again soon, not taken for out of reach."""


class DeviceFault(DeviceError):
    """The device answered, but with an error or an implausible value."""


class NotSupported(DeviceError):
    """The device model cannot do what was asked."""


class PaymentDeclined(DeviceFault):
    """The terminal refused the payment (card declined, aborted by the customer, limit)."""

    def __init__(self, message: str, result_code: int) -> None:
        super().__init__(message)
        self.result_code = result_code


class PaymentAborted(PaymentDeclined):
    """The pending pre-authorisation was taken back by ``PaymentTerminal.abort`` before a card
    was read: nothing was reserved."""


@runtime_checkable
class Charger(Protocol):
    async def read_status(self) -> ChargerStatus: ...

    async def set_current(self, current_a: float) -> None:
        """Offer ``current_a`` to the EV; 0 pauses charging."""
        ...

    async def set_enabled(self, enabled: bool) -> None: ...


@runtime_checkable
class Meter(Protocol):
    async def read(self) -> MeterReading: ...


@runtime_checkable
class BuiltInMeter(Protocol):
    """A charger that measures its own phase currents, power and energy."""

    async def read_meter(self) -> MeterReading: ...


@runtime_checkable
class StatusWithMeter(Protocol):
    """A charger whose status and built-in meter are read in one go: one poll where there
    were two, and one request where the model's registers are close enough for one read."""

    @property
    def status_and_meter_share_a_request(self) -> bool:
        """Whether one request holds registers of both (else a read of both is only the two
        reads one after the other, better made apart: each keeps its own outcome)."""
        ...

    async def read_status_and_meter(self) -> tuple[ChargerStatus, MeterReading]:
        """Both from the same requests: a failure of any of them yields neither."""
        ...


@runtime_checkable
class DeviceWatchdog(Protocol):
    """A charger that falls back to a failsafe current on its own when writes stop."""

    async def program_failsafe(self, current_a: float, timeout_s: float) -> None: ...


@runtime_checkable
class TokenReader(Protocol):
    def tokens(self) -> AsyncIterator[Token]:
        """Yield one token per tap."""
        ...


@runtime_checkable
class ReaderFeedback(Protocol):
    async def signal(self, accepted: bool) -> None: ...


@runtime_checkable
class PaymentTerminal(Protocol):
    """A card terminal. Each call is one transaction at the terminal; a call that times out or
    loses its connection raises ``DeviceUnavailable`` and its outcome is unknown until asked."""

    async def status(self) -> TerminalStatus: ...

    async def pre_authorise(self, amount: Money) -> PaymentAuthorisation:
        """Reserve ``amount`` on the card presented next; ``PaymentDeclined`` if refused."""
        ...

    async def capture(self, authorisation: PaymentAuthorisation, amount: Money) -> Capture:
        """Book ``amount`` (at most the authorised one) and release the rest."""
        ...

    async def reverse(self, authorisation: PaymentAuthorisation) -> None:
        """Release the whole reservation (the session never started)."""
        ...

    async def abort(self) -> bool:
        """Take back the pending ``pre_authorise`` while it waits for a card: True if the
        terminal accepted (that call then raises ``PaymentAborted``); False if nothing is
        pending or the terminal refused (a card is read or being authorised: that call goes on
        to its end, and its outcome is handled as any other)."""
        ...


@runtime_checkable
class EndOfDay(Protocol):
    """A terminal that closes its day on request (submits the day's bookings)."""

    async def end_of_day(self) -> DayClosed: ...


@runtime_checkable
class CaptureLookup(Protocol):
    """A terminal that can say whether a capture whose answer was lost was booked."""

    async def booked_capture(self, authorisation: PaymentAuthorisation) -> Capture | None:
        """The booking of ``authorisation``'s reservation if the terminal's last transaction
        is that booking; None if it is anything else (nothing known to be booked)."""
        ...
