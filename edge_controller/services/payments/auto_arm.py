"""A shared card terminal that arms itself for the only EV waiting at its connectors.

Every ``poll_s`` the terminal's decision is taken again (``domain.payments.arm_decision``): when
exactly one EV plugged into a connector it serves waits for authorisation, a pre-authorisation
for that connector is started (the driver only holds the card to the terminal); when that stops
being true (the EV is started another way, unplugs, or a second EV plugs in), it is taken back
(``PaymentFlow.abort``). A terminal that already read the card refuses: the payment goes on and
its session, if its EV is gone, never starts, so the reservation is reversed on the flow's
durable path. Once the terminal has answered (the card approved or declined) there is nothing
to take back, and no abort is sent. A driver's press on the display for a connector joins the
armed payment when it is for that connector; when it is for another, or the arming is being
taken back, the press waits until the armed payment has ended and then pays by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from edge_controller.domain.commands import CommandResult
from edge_controller.domain.payments import (
    ArmDecision,
    NotArmed,
    TerminalState,
    arm_decision,
)
from edge_controller.log import get_logger
from edge_controller.ports import DeviceBusy, DeviceUnavailable, PaymentAborted
from edge_controller.services.payments.flow import PaymentFlow

# Pays for the connector now (the command port's card payment, without joining an armed one).
Pay = Callable[[str], Coroutine[Any, Any, CommandResult]]
Waiting = Callable[[], frozenset[str]]  # connectors whose plugged EV waits for authorisation


class AutoArm:
    def __init__(
        self,
        served: Sequence[str],
        flow: PaymentFlow,
        pay: Pay,
        waiting: Waiting,
        *,
        poll_s: float = 0.5,
        rearm_s: float = 2.0,  # after a payment that failed (declined, refused)
        offline_s: float = 30.0,  # after the terminal was out of reach
        busy_s: float = 2.0,  # after the terminal said it runs another payment
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._served, self._flow, self._pay, self._waiting = tuple(served), flow, pay, waiting
        self._poll_s, self._rearm_s = poll_s, rearm_s
        self._offline_s, self._busy_s = offline_s, busy_s
        self._clock = clock
        self._task: asyncio.Task[CommandResult] | None = None
        self._armed_for: str | None = None
        self._taken_back = False  # the armed payment was asked to stop
        self._pressed = 0  # display presses under way: nothing is armed meanwhile
        self._offline_until_s = 0.0
        self._busy_until_s = 0.0  # the terminal refused as busy: shown busy, asked again then
        self._next_arm_s = 0.0
        self._decision = ArmDecision(None, NotArmed.NONE_WAITING)
        self._log = get_logger("payments.arm", terminal=flow.terminal_id)

    @property
    def terminal_id(self) -> str:
        return self._flow.terminal_id

    @property
    def served(self) -> tuple[str, ...]:
        return self._served

    @property
    def decision(self) -> ArmDecision:
        """Whom the terminal is armed for now, or why for nobody (what the display shows)."""
        return self._decision

    @property
    def armed_for(self) -> str | None:
        """The connector a pre-authorisation under way pays for (None: none runs)."""
        return self._armed_for if self._running() else None

    async def run(self) -> None:
        try:
            while True:
                await self.step()
                await asyncio.sleep(self._poll_s)
        finally:
            await self._shut()

    async def step(self) -> None:
        """Take the decision again; arm, or take back what no longer holds."""
        now_s = self._clock()
        unpriced = frozenset(c for c in self._served if not self._flow.priced(c))
        decision = arm_decision(self._served, self._waiting(), self._state(now_s), unpriced)
        self._decision = decision
        if self._running():
            # Only while the terminal waits for the card (or reads it): before that the next
            # step takes it back, after its answer an abort would do nothing.
            taken_back = decision.connector_id == self._armed_for or self._taken_back
            if not taken_back and self._flow.authorising:
                await self._take_back(decision)
            return
        if decision.connector_id is not None and now_s >= self._next_arm_s:
            self._arm(decision.connector_id)

    @asynccontextmanager
    async def press(self, connector_id: str) -> AsyncIterator[asyncio.Future[CommandResult] | None]:
        """A driver's press for ``connector_id``: the armed payment's outcome when it is for
        that connector (the press waits for it), else None once the armed payment was taken
        back and has ended (the press pays by itself). Nothing is armed while a press runs."""
        self._pressed += 1
        try:
            task = self._task if self._running() else None
            if task is None:
                yield None
                return
            if self._armed_for == connector_id and not self._taken_back:
                yield asyncio.shield(task)
                return
            if not self._taken_back:
                self._taken_back = True  # by this press, not by the next step as well
                await self._abort_when_armed(task)
            # The terminal is free once the payment taken back has ended; a payment the
            # terminal went on with (the card was read) is this press's when it paid here.
            await asyncio.wait({task})
            yield task if self._paid_here(task, connector_id) else None
        finally:
            self._pressed -= 1

    async def _abort_when_armed(self, task: asyncio.Task[CommandResult]) -> None:
        """Take the armed payment back once the terminal waits for its card (an abort before
        that finds nothing to stop); none once the terminal has answered."""
        while not task.done():
            if self._flow.authorising:
                await self._flow.abort()
                return
            await asyncio.wait({task}, timeout=self._poll_s)

    def _paid_here(self, task: asyncio.Task[CommandResult], connector_id: str) -> bool:
        return (
            self._armed_for == connector_id
            and not task.cancelled()
            and task.exception() is None
            and task.result().ok
        )

    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _state(self, now_s: float) -> TerminalState:
        if now_s < self._offline_until_s:
            return TerminalState.OUT_OF_ORDER
        if now_s < self._busy_until_s:
            return TerminalState.BUSY
        # a press, or a payment not armed here (ours running is not "busy": a press joins it)
        if (self._pressed or self._flow.authorising) and not self._running():
            return TerminalState.BUSY
        return TerminalState.READY

    def _arm(self, connector_id: str) -> None:
        self._log.info("terminal armed", connector_id=connector_id)
        self._armed_for, self._taken_back = connector_id, False
        self._task = asyncio.create_task(self._pay(connector_id))
        self._task.add_done_callback(self._ended)

    async def _take_back(self, decision: ArmDecision) -> None:
        self._taken_back = True
        reason = decision.reason.value if decision.reason is not None else "other connector"
        accepted = await self._flow.abort()
        self._log.info("armed payment taken back" if accepted else "armed payment goes on",
                       connector_id=self._armed_for, reason=reason)  # fmt: skip

    def _ended(self, task: asyncio.Task[CommandResult]) -> None:
        """After an armed payment: a terminal out of reach is left alone for ``offline_s``, one
        busy with another payment is asked again after ``busy_s``, a failed payment is not
        armed again for ``rearm_s`` (a taken back one at once)."""
        if task.cancelled() or task.exception() is not None:
            self._next_arm_s = self._clock() + self._rearm_s
            return
        error = self._flow.last_error
        if isinstance(error, DeviceBusy):
            self._busy_until_s = self._clock() + self._busy_s
        elif isinstance(error, DeviceUnavailable):
            self._offline_until_s = self._clock() + self._offline_s
        elif not task.result().ok and not isinstance(error, PaymentAborted):
            self._next_arm_s = self._clock() + self._rearm_s
        self._log.info("armed payment ended", connector_id=self._armed_for,
                       ok=task.result().ok, error=task.result().error)  # fmt: skip

    async def _shut(self) -> None:
        """At shutdown the terminal is not left waiting for a card nobody will pay with."""
        task = self._task
        if task is None or task.done():
            return
        with suppress(Exception):
            await asyncio.shield(self._flow.abort())
        with suppress(BaseException):
            async with asyncio.timeout(5.0):
                await asyncio.shield(task)
