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
from datetime import time, tzinfo

from edge_controller.domain.payments import (
    NOTHING_DUE,
    UNPRICED,
    Capture,
    DayClosed,
    NoTariff,
    PaymentAuthorisation,
    capture_amount,
    next_end_of_day_s,
    pre_authorisation_amount,
)
from edge_controller.domain.pricing.money import Money
from edge_controller.log import get_logger
from edge_controller.ports import (
    CaptureLookup,
    DeviceError,
    DeviceFault,
    DeviceUnavailable,
    EndOfDay,
    PaymentTerminal,
)
from edge_controller.storage.payments_store import DueCapture, PaymentKey, PaymentStore

# Starts a session on the connector with this token; its local id, or None if it did not start.
StartSession = Callable[[str, str], Awaitable[int | None]]
# The most a session starting now on this connector can cost (None: no max cost known);
# raises ``NoTariff`` when no tariff would price it.
CostCap = Callable[[str], Money | None]


@dataclass(frozen=True, slots=True)
class TerminalPlace:
    """A terminal as configured: its id and the amount it reserves on a card."""

    terminal_id: str
    pre_authorisation: Money
    retry_s: float = 30.0  # after the terminal was out of reach
    poll_s: float = 1.0  # how soon a stopped, priced session is captured
    plug_timeout_s: float = 60.0  # a driver who paid first plugs the EV in within this
    end_of_day: tuple[time, tzinfo] | None = None  # when the terminal closes its day (local)


class PaymentFlow:
    def __init__(
        self,
        place: TerminalPlace,
        terminal: PaymentTerminal,
        store: PaymentStore,
        clock: Callable[[], float],
        max_cost: CostCap | None = None,
    ) -> None:
        self._place = place
        self._terminal = terminal
        self._store = store
        self._clock = clock
        self._max_cost = max_cost
        self._unreachable = False  # the terminal was out of reach in this round
        self._starting: set[PaymentKey] = set()  # approved, their session not yet settled on
        self._asking: set[int] = set()  # intents whose terminal answer this run awaits
        # a new intent is stored and counted as awaited before any report can see it
        self._intents = asyncio.Lock()
        self.last_error: DeviceError | None = None  # of the last pre-authorisation asked for
        self._log = get_logger("payments", terminal=place.terminal_id)

    @property
    def terminal_id(self) -> str:
        return self._place.terminal_id

    @property
    def plug_timeout_s(self) -> float:
        return self._place.plug_timeout_s

    @property
    def authorising(self) -> bool:
        """Whether a pre-authorisation waits for the terminal's answer now."""
        return bool(self._asking)

    def priced(self, connector_id: str) -> bool:
        """Whether a session starting now on the connector would be priced (a tariff)."""
        if self._max_cost is None:
            return True
        try:
            self._max_cost(connector_id)
        except NoTariff:
            return False
        return True

    async def abort(self) -> bool:
        """Take back the pre-authorisation that waits for a card (``PaymentTerminal.abort``);
        False if none waits or the terminal refused (its payment goes on)."""
        try:
            return await self._terminal.abort()
        except DeviceError as exc:
            self._log.warning("abort failed", reason=str(exc))
            return False

    async def pay_and_start(self, connector_id: str, start: StartSession) -> PaymentAuthorisation:
        """Pre-authorise the configured amount, never more than the connector's tariff can
        cost, and start the session with the payment's token; a session that does not start
        has its reservation reversed. Raises ``PaymentDeclined`` / ``DeviceUnavailable`` from
        the terminal as they come, ``NoTariff`` before the terminal is armed."""
        self.last_error = None  # this payment's, even when it fails before the terminal
        try:
            cap = None if self._max_cost is None else self._max_cost(connector_id)
        except NoTariff as exc:
            self._log.warning("payment refused", connector_id=connector_id, reason=str(exc))
            raise
        amount = pre_authorisation_amount(self._place.pre_authorisation, cap)
        tid = self._place.terminal_id
        async with self._intents:
            intent = await self._store.authorising(tid, connector_id, amount, self._clock())
            self._asking.add(intent)
        try:
            auth, token = await self._approved(intent, connector_id, amount)
        finally:
            # awaited until its outcome is stored: a report meanwhile would take it for a crash's
            self._asking.discard(intent)
        key = PaymentKey(tid, auth.reference)
        try:
            session = await start(connector_id, token)
            if session is None:
                self._log.info("session did not start; reversing", reference=auth.reference)
                await self._reverse(key, auth)
            else:
                await self._store.started(key, session, self._clock())
        finally:
            self._starting.discard(key)
        return auth

    async def _approved(
        self, intent: int, connector_id: str, amount: Money
    ) -> tuple[PaymentAuthorisation, str]:
        """Ask the terminal for the pre-authorisation of ``intent`` and store its outcome: the
        approval (its payment marked as starting) and the session's token."""
        try:
            auth = await self._terminal.pre_authorise(amount)
        except DeviceError as exc:
            self.last_error = exc
            await self._store.not_authorised(intent)
            raise
        tid = self._place.terminal_id
        key = PaymentKey(tid, auth.reference)
        self._starting.add(key)
        try:
            token = await self._store.authorised(auth, tid, connector_id, self._clock(), intent)
        except BaseException:
            self._starting.discard(key)
            raise
        return auth, token

    async def settle_due(self) -> int:
        """Capture every priced, unsettled session's cost; the number settled now."""
        settled = 0
        for due in await self._store.due_captures(self._place.terminal_id):
            settled += await self._capture(due)
        return settled

    async def release_unpriced(self) -> int:
        """Reverse the reservation of each paid session that ended without a tariff (it can
        never be priced, so never captured): nothing is charged, and the operator is told by
        the log and a Canceled settlement. The number released now."""
        released = 0
        for payment in await self._store.ended_unpriced(self._place.terminal_id):
            auth = payment.authorisation
            self._log.error("paid session ended unpriced", reference=auth.reference,
                            session=payment.session_local_id, reason=UNPRICED)  # fmt: skip
            released += await self._reverse(payment.key, auth, canceled=UNPRICED)
        return released

    async def report_unknown(self) -> int:
        """Pre-authorisations a crash cut between asking the terminal and storing its answer:
        a ZVT reversal needs the receipt number the answer carried, so they cannot be released
        from here. Each is reported once to the operator; the number reported."""
        async with self._intents:
            unknown = await self._store.unknown_outcomes(self._place.terminal_id, self._asking)
        for intent_id, connector_id, amount in unknown:
            self._log.error("pre-authorisation outcome unknown, check the terminal's journal",
                            intent=intent_id, connector_id=connector_id,
                            amount=str(amount))  # fmt: skip
        return len(unknown)

    async def reverse_unstarted(self) -> None:
        """Release reservations whose session never started (found at start-up); one whose
        session did start before a crash is linked to it instead."""
        for payment in await self._store.unstarted(self._place.terminal_id):
            if payment.key in self._starting:  # its driver is still at the connector
                continue
            if payment.session_local_id is not None:
                await self._store.started(payment.key, payment.session_local_id, self._clock())
            else:
                await self._reverse(payment.key, payment.authorisation)

    async def close_day(self) -> DayClosed | None:
        """The terminal's end-of-day (None: it cannot, or it failed; logged)."""
        if not isinstance(self._terminal, EndOfDay):
            return None
        try:
            closed = await self._terminal.end_of_day()
        except DeviceError as exc:
            self._log.warning("end of day failed", reason=str(exc))
            return None
        self._log.info("day closed", total=str(closed.total), lines=len(closed.receipt_lines))
        return closed

    async def run(self) -> None:
        """At start-up, then every ``poll_s``: reverse what never started, settle what is due,
        close the day when it is time; a terminal out of reach is tried after ``retry_s``."""
        close_at_s = self._next_close_s()
        await self.report_unknown()
        while True:
            self._unreachable = False
            await self.reverse_unstarted()
            await self.settle_due()
            await self.release_unpriced()
            if close_at_s is not None and self._clock() >= close_at_s:
                await self.close_day()
                close_at_s = self._next_close_s()
            pause_s = self._place.retry_s if self._unreachable else self._place.poll_s
            await asyncio.sleep(pause_s)

    def _next_close_s(self) -> float | None:
        if self._place.end_of_day is None:
            return None
        return next_end_of_day_s(self._clock(), *self._place.end_of_day)

    async def _capture(self, due: DueCapture) -> int:
        payment = due.payment
        auth, key = payment.authorisation, payment.key
        amount = capture_amount(auth.amount, due.cost)
        retry = payment.attempts > 0  # a book total was sent before; its answer was not stored
        if amount.amount == 0 and not retry:
            # Nothing to book (no energy flowed, nothing else priced): the reservation is
            # released instead, a book total of 0.00 is no payment.
            self._log.info("nothing to capture; reversing", reference=auth.reference)
            return await self._reverse(key, auth, canceled=NOTHING_DUE)
        if retry:
            try:
                booked = await self._booked_before(auth)
            except DeviceUnavailable as exc:
                self._log.warning("capture to retry", reference=auth.reference, reason=str(exc))
                self._unreachable = True
                return 0
            if booked is not None:
                return int(await self._store.settled(key, booked, self._clock()))
        if not await self._store.capturing(key, self._clock()):
            return 0
        try:
            captured = await self._terminal.capture(auth, amount)
        except DeviceUnavailable as exc:
            self._log.warning("capture to retry", reference=auth.reference, reason=str(exc))
            self._unreachable = True
            return 0
        except DeviceError as exc:
            # A refusal after an earlier attempt may mean that attempt was booked: the operator
            # decides with the terminal's journal, never a second booking.
            reason = f"{'retried ' if retry else ''}capture refused: {exc}"
            await self._store.failed(key, reason, self._clock(), amount)
            self._log.error("capture failed", reference=auth.reference, reason=reason)
            return 0
        await self._store.settled(key, captured, self._clock())
        self._log.info("settled", reference=auth.reference, amount=str(captured.amount))
        return 1

    async def _booked_before(self, auth: PaymentAuthorisation) -> Capture | None:
        """The booking an earlier book total made, if the terminal can tell and did book it
        (its answer was lost): settled from it, never booked a second time. A terminal that
        cannot tell answers None and the book total is sent again (a booked reservation is
        refused by the terminal and goes to the operator)."""
        if not isinstance(self._terminal, CaptureLookup):
            return None
        try:
            booked = await self._terminal.booked_capture(auth)
        except DeviceFault as exc:
            self._log.warning("last receipt not read", reference=auth.reference, reason=str(exc))
            return None
        if booked is not None:
            self._log.info("settled from the terminal's last receipt", reference=auth.reference,
                           amount=str(booked.amount))  # fmt: skip
        return booked

    async def _reverse(
        self, key: PaymentKey, auth: PaymentAuthorisation, canceled: str | None = None
    ) -> int:
        """Release a reservation (``canceled``: of a session that ended with nothing to
        capture, told to the CSMS as its Canceled settlement for this reason); 1 if it is
        released now."""
        nothing = Money.of_minor(0, auth.amount.currency)
        try:
            await self._terminal.reverse(auth)
        except DeviceUnavailable as exc:
            self._log.warning("reversal to retry", reference=auth.reference, reason=str(exc))
            self._unreachable = True
            return 0
        except DeviceError as exc:
            reason = f"{canceled or 'reversal'} refused: {exc}"
            self._log.error("reversal failed", reference=auth.reference, reason=reason)
            told = None if canceled is None else nothing
            await self._store.failed(key, reason, self._clock(), told)
            return 0
        if canceled is not None:
            return int(await self._store.released(key, nothing, self._clock(), canceled))
        await self._store.reversed(key, self._clock())
        return 1
