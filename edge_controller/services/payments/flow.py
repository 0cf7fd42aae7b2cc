"""The card payment flow over a ``PaymentTerminal`` and the payments store.

Every step is committed before the next one is taken: the approved pre-authorisation before the
session starts, the "capture sent" mark before the book total. The amount captured is the
session's priced cost (read from storage), so a restart between stop and capture settles the
session on the next ``settle_due``, and a settled payment is never captured again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge_controller.domain.payments import (
    PaymentAuthorisation,
    capture_amount,
    pre_authorisation_amount,
)
from edge_controller.domain.pricing.money import Money
from edge_controller.log import get_logger
from edge_controller.ports import DeviceError, DeviceUnavailable, PaymentTerminal
from edge_controller.storage.payments_store import DueCapture, PaymentStore

# Starts a session on the connector with this token; its local id, or None if it did not start.
StartSession = Callable[[str, str], Awaitable[int | None]]


@dataclass(frozen=True, slots=True)
class TerminalPlace:
    """A terminal as configured: its id and the amount it reserves on a card."""

    terminal_id: str
    pre_authorisation: Money
    retry_s: float = 30.0


class PaymentFlow:
    def __init__(
        self,
        place: TerminalPlace,
        terminal: PaymentTerminal,
        store: PaymentStore,
        clock: Callable[[], float],
    ) -> None:
        self._place = place
        self._terminal = terminal
        self._store = store
        self._clock = clock
        self._log = get_logger("payments", terminal=place.terminal_id)

    async def pay_and_start(
        self, connector_id: str, max_cost: Money | None, start: StartSession
    ) -> PaymentAuthorisation:
        """Pre-authorise at most the tariff's max cost and start the session with the payment's
        reference as its token; a session that does not start has its reservation reversed.
        Raises ``PaymentDeclined`` / ``DeviceUnavailable`` from the terminal as they come."""
        amount = pre_authorisation_amount(self._place.pre_authorisation, max_cost)
        auth = await self._terminal.pre_authorise(amount)
        await self._store.authorised(auth, self._place.terminal_id, connector_id, self._clock())
        session = await start(connector_id, auth.reference)
        if session is None:
            self._log.info("session did not start; reversing", reference=auth.reference)
            await self._reverse(auth)
        else:
            await self._store.started(auth.reference, session, self._clock())
        return auth

    async def settle_due(self) -> int:
        """Capture every priced, unsettled session's cost; the number settled now."""
        settled = 0
        for due in await self._store.due_captures():
            if due.payment.terminal_id == self._place.terminal_id:  # another terminal's card
                settled += await self._capture(due)
        return settled

    async def reverse_unstarted(self) -> None:
        """Release reservations whose session never started (found at start-up)."""
        for payment in await self._store.unstarted():
            if payment.terminal_id == self._place.terminal_id:
                await self._reverse(payment.authorisation)

    async def run(self) -> None:
        """At start-up, then every ``retry_s``: reverse what never started, settle what is due."""
        while True:
            await self.reverse_unstarted()
            await self.settle_due()
            await asyncio.sleep(self._place.retry_s)

    async def _capture(self, due: DueCapture) -> int:
        payment = due.payment
        auth = payment.authorisation
        amount = capture_amount(auth.amount, due.cost)
        retry = payment.attempts > 0  # a book total was sent before; its answer was not stored
        if not await self._store.capturing(auth.reference, self._clock()):
            return 0
        try:
            captured = await self._terminal.capture(auth, amount)
        except DeviceUnavailable as exc:
            self._log.warning("capture to retry", reference=auth.reference, reason=str(exc))
            return 0
        except DeviceError as exc:
            # A refusal after an earlier attempt may mean that attempt was booked: the operator
            # decides with the terminal's journal, never a second booking.
            reason = f"{'retried ' if retry else ''}capture refused: {exc}"
            await self._store.failed(auth.reference, reason, self._clock())
            self._log.error("capture failed", reference=auth.reference, reason=reason)
            return 0
        await self._store.settled(auth.reference, captured.amount, self._clock())
        self._log.info("settled", reference=auth.reference, amount=str(captured.amount))
        return 1

    async def _reverse(self, auth: PaymentAuthorisation) -> None:
        try:
            await self._terminal.reverse(auth)
        except DeviceUnavailable as exc:
            self._log.warning("reversal to retry", reference=auth.reference, reason=str(exc))
            return
        except DeviceError as exc:
            await self._store.failed(auth.reference, f"reversal refused: {exc}", self._clock())
            return
        await self._store.reversed(auth.reference, self._clock())
