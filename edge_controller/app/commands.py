"""The command port: the one place where every entry point's commands reach their owner."""

from __future__ import annotations

import asyncio

from edge_controller.domain.commands import (
    CancelReservation,
    ChangeSessionRules,
    Command,
    CommandResult,
    Reserve,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    StartSession,
    StopSession,
)
from edge_controller.domain.sessions.reservations import ReserveAnswer
from edge_controller.log import get_logger
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.manager import SessionManager

log = get_logger("commands")
QUEUE_SIZE = 64


class CommandPort:
    """Every entry point (the CSMS, MQTT, later the web) hands its commands here and gets the
    owning service's own decision back: limits and availability go to the control loop, the
    rest to the session side, where every start passes the one authorization rule
    (``SessionManager.start``), whichever entry point sent it.

    ``decide`` applies a command now and returns the decision (for answers that must be true
    when sent); ``submit`` queues it without blocking (for an OCPP handler, which must not
    wait), worked off by ``run``. Overflow policy: a full queue refuses the command."""

    def __init__(self, site: SiteController, sessions: SessionManager) -> None:
        self._site, self._sessions = site, sessions
        self._queue: asyncio.Queue[Command] = asyncio.Queue(QUEUE_SIZE)

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
        return CommandResult(True)
