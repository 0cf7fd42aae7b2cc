"""The command port: the one place where every entry point's commands reach their owner."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from edge_controller.domain.commands import (
    CancelReservation,
    ChangeSessionRules,
    ChangeSessionTariff,
    Command,
    CommandResult,
    Origin,
    PayAtTerminal,
    Reserve,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    SetTransactionLimit,
    StartSession,
    StopSession,
)
from edge_controller.domain.payments import NoTariff
from edge_controller.domain.sessions.reservations import ReserveAnswer
from edge_controller.domain.sessions.state import Phase
from edge_controller.log import get_logger
from edge_controller.ports import DeviceError
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.storage.sessions_store import SessionRecord

if TYPE_CHECKING:  # a site's payments are imported with its terminals (``app.payments``)
    from edge_controller.services.payments import PaymentFlow
    from edge_controller.services.payments.auto_arm import AutoArm

log = get_logger("commands")
QUEUE_SIZE = 64
PLUG_POLL_S = 0.2  # how often a paid start waiting for its EV looks for the session
OPENING_GRACE_S = 30.0  # a plugged EV's paid start may still be checked this long after


class CommandPort:
    """Every entry point (the CSMS, MQTT, later the web) hands its commands here and gets the
    owning service's own decision back: limits and availability go to the control loop, the
    rest to the session side, where every start passes the one authorization rule
    (``SessionManager.start``), whichever entry point sent it.

    ``decide`` applies a command now and returns the decision (for answers that must be true
    when sent); ``submit`` queues it without blocking (for an OCPP handler, which must not
    wait), worked off by ``run``. Overflow policy: a full queue refuses the command."""

    def __init__(
        self,
        site: SiteController,
        sessions: SessionManager,
        payments: Mapping[str, PaymentFlow] | None = None,
    ) -> None:
        self._site, self._sessions = site, sessions
        self._payments = dict(payments or {})  # connector id -> its terminal's flow
        self._paying: set[asyncio.Future[CommandResult]] = set()
        self._arms: dict[str, AutoArm] = {}  # connector id -> its self-arming terminal
        self._queue: asyncio.Queue[Command] = asyncio.Queue(QUEUE_SIZE)

    def arm_with(self, arms: Mapping[str, AutoArm]) -> None:
        """The self-arming terminals by connector: a press there joins what they armed."""
        self._arms = dict(arms)

    async def decide(self, command: Command) -> CommandResult:
        try:
            result = await self._route(command)
        except ValueError as exc:
            result = CommandResult(False, str(exc))
        if not result.ok:
            log.info("command refused", command=type(command).__name__,
                     origin=command.origin.value, error=result.error)  # fmt: skip
        return result

    def submit(self, command: Command) -> bool:
        try:
            self._queue.put_nowait(command)
        except asyncio.QueueFull:
            return False
        return True

    async def run(self) -> None:
        while True:
            await self.decide(await self._queue.get())

    async def _route(self, command: Command) -> CommandResult:
        match command:
            case SetSiteLimit() | SetConnectorLimit() | SetConnectorEnabled():
                await self._site.apply(command)
            case StartSession():
                return await self._sessions.start(command)
            case StopSession():
                return await self._sessions.stop(command)
            case ChangeSessionRules():
                self._sessions.change_rules(command)
            case Reserve():
                answer = await self._sessions.reserve(command)
                ok = answer is ReserveAnswer.ACCEPTED
                error = None if ok else f"reservation {command.reservation_id}: {answer.value}"
                return CommandResult(ok, error, command.connector_id, answer.value)
            case CancelReservation():
                if not await self._sessions.on_reservation(command):
                    return CommandResult(False, f"reservation {command.reservation_id} refused")
            case SetTransactionLimit():
                return await self._sessions.set_limit(command)
            case ChangeSessionTariff():
                return await self._sessions.change_tariff(command)
            case PayAtTerminal():
                # Shielded: a sender that stops waiting (an MQTT timeout while the driver is at
                # the terminal) must not cut the payment between its approval and its session.
                paying = asyncio.ensure_future(self._pressed(command.connector_id))
                self._paying.add(paying)
                paying.add_done_callback(self._paying.discard)
                return await asyncio.shield(paying)
        return CommandResult(True)

    async def _pressed(self, connector_id: str) -> CommandResult:
        """A payment asked for from an entry point: where the terminal armed itself for this
        connector, its outcome; for another connector, that one is taken back first."""
        arm = self._arms.get(connector_id)
        if arm is None:
            return await self.pay_now(connector_id)
        async with arm.press(connector_id) as armed:
            if armed is not None:
                return await armed
            return await self.pay_now(connector_id)

    async def pay_now(
        self, connector_id: str, plug_timeout_s: float | None = None
    ) -> CommandResult:
        """Arm the connector's terminal for it and wait for the card holder: the payment's
        session started with its token, or why not. ``plug_timeout_s``: how long an approved
        payment waits for its EV (None: the terminal's ``plug_timeout_s``)."""
        flow = self._payments.get(connector_id)
        if flow is None:
            return CommandResult(False, f"{connector_id}: no card terminal serves this connector")
        wait_s = flow.plug_timeout_s if plug_timeout_s is None else plug_timeout_s

        async def start(cid: str, token: str) -> int | None:
            return await self._start_paid(cid, token, wait_s)

        try:
            await flow.pay_and_start(connector_id, start)
        except NoTariff as exc:  # the terminal was not armed
            return CommandResult(False, str(exc))
        except DeviceError as exc:  # declined, aborted, or the terminal out of reach
            return CommandResult(False, f"{connector_id}: payment not approved ({exc})")
        session = self._sessions.open_session(connector_id)
        if session is None:
            return CommandResult(False, f"{connector_id}: no EV plugged in; payment reversed")
        return CommandResult(True, None, connector_id)

    async def pay_armed(self, connector_id: str) -> CommandResult:
        """The payment a terminal armed itself for, for an EV that was plugged in: it is not
        waited for, so an EV gone while its card was read (the take-back refused) has the
        reservation reversed as soon as the approval comes, not after ``plug_timeout_s``."""
        return await self.pay_now(connector_id, plug_timeout_s=0.0)

    async def _start_paid(self, connector_id: str, token: str, plug_timeout_s: float) -> int | None:
        """The session of an approved payment, by the one authorization rule. Without an EV the
        start waits for one up to ``plug_timeout_s``; then it is withdrawn, so the reservation
        is released and nothing charges unpaid."""
        start = StartSession(connector_id, token, Origin.PAYMENT_TERMINAL)
        if not (await self._sessions.start(start)).ok:
            return None
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + plug_timeout_s
        while (session := self._paid_session(connector_id, token)) is None:
            phase = self._sessions.phase(connector_id)
            # The EV plugged in: its start is checked and recorded before the session opens.
            if phase not in (Phase.WAIT_PLUG, Phase.AUTHORIZING, Phase.OPENING):
                break  # the start was given up or stopped meanwhile
            late = phase is Phase.WAIT_PLUG or loop.time() >= deadline_s + OPENING_GRACE_S
            if late and loop.time() >= deadline_s:
                await self._sessions.stop(StopSession(connector_id, Origin.PAYMENT_TERMINAL))
                break
            await asyncio.sleep(PLUG_POLL_S)
        session = self._paid_session(connector_id, token)
        return None if session is None else session.local_id

    def _paid_session(self, connector_id: str, token: str) -> SessionRecord | None:
        session = self._sessions.open_session(connector_id)
        return session if session is not None and session.id_tag == token else None
