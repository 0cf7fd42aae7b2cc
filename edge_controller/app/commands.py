"""The command port: one place where every entry point's commands reach their owner."""

from __future__ import annotations

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
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.sessions.manager import SessionManager


class CommandRouter:
    """The command port: every entry point (CSMS, MQTT, later the web) hands its commands here
    and gets the owning service's own decision back. Starts are authorised by the session side
    (``SessionManager.start``), whichever entry point sent them."""

    def __init__(self, site: SiteController, sessions: SessionManager) -> None:
        self._site, self._sessions = site, sessions

    async def submit(self, command: Command) -> CommandResult:
        try:
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
        except ValueError as exc:
            return CommandResult(False, str(exc))
        return CommandResult(True)
