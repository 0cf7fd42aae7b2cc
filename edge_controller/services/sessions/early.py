"""Transactions begun before their session (OCPP 2.x TxStartPoint): at the plug-in, before any
authorisation (EVConnected), or at the authorisation, before the plug-in (Authorized).

Such a transaction is recorded with its first event (``storage.plugs_store``) and joined by the
session once both are there: the session takes its local id, so the CSMS sees one transaction.
One no session joined ends when what began it is lost: the EV leaves, the authorisation is
stopped or times out, the daemon stops. Nothing is allowed to charge before the session: the
state machine alone decides that.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions import state as sm
from edge_controller.log import get_logger
from edge_controller.services.sessions.recorder import Joins, SessionRecorder
from edge_controller.storage.errors import StorageError

log = get_logger("sessions")


@dataclass(frozen=True, slots=True)
class Early:
    local_id: int
    authorized: bool  # begun at the authorisation (else at the plug-in)


def _plug_waits(state: sm.SessionState) -> bool:
    """An EV is plugged in and waits for its authorisation (or the session's record)."""
    return state.plugged and state.phase in sm.PLUGGED_WAITING


def _auth_waits(state: sm.SessionState) -> bool:
    """An authorisation waits for its EV (or for the session's record once it came)."""
    if state.auth is None:
        return False
    return state.phase is sm.Phase.WAIT_PLUG or state.phase is sm.Phase.OPENING


def _lost(early: Early, state: sm.SessionState, event: sm.Event, stopping: bool) -> StopReason:
    """Why a transaction no session joined ends now."""
    if stopping:
        return StopReason.REBOOT
    if isinstance(event, sm.StopRequested):
        return event.reason
    if early.authorized:
        return StopReason.TIMEOUT if isinstance(event, sm.Tick) else StopReason.OTHER
    return StopReason.OTHER if state.plugged else StopReason.EV_DISCONNECTED


class EarlyTransactions:
    def __init__(self, recorder: SessionRecorder) -> None:
        self._recorder = recorder
        self.at_plug = False  # TxStartPoint EVConnected
        self.at_authorization = False  # TxStartPoint Authorized
        self.open: dict[str, Early] = {}  # connector -> its transaction no session joined yet
        self._unseen: set[str] = set()  # found open at start-up, the charger not seen yet

    def joining(self, cid: str) -> Joins:
        """What a session opening now at ``cid`` joins."""
        found = self.open.get(cid)
        return None if found is None else (found.local_id, found.authorized)

    def joined(self, cid: str) -> None:
        self.open.pop(cid, None)

    def resume(self, cid: str, local_id: int, authorized: bool) -> None:
        """One left open when the daemon last stopped: decided when the charger is first seen
        (a plug-in's goes on if the EV is still there; an authorisation was lost with the
        process, so its transaction ends)."""
        self.open[cid] = Early(local_id, authorized)
        self._unseen.add(cid)

    async def follow(
        self, cid: str, state: sm.SessionState, event: sm.Event, now_s: float, *, stopping: bool
    ) -> None:
        """Start one where the rules say, end the one whose beginning was lost (``event``: what
        the connector's state machine was just given)."""
        if cid in self._unseen:
            if not isinstance(event, sm.ChargerSeen):
                return
            self._unseen.discard(cid)
            if self.open[cid].authorized:
                await self.end(cid, StopReason.POWER_LOSS, now_s)
        early = self.open.get(cid)
        if early is None:
            if not stopping and state.phase is not sm.Phase.OPENING:
                await self._start(cid, state, now_s)
            return
        if _auth_waits(state) if early.authorized else _plug_waits(state):
            return
        await self.end(cid, _lost(early, state, event, stopping), now_s)

    async def _start(self, cid: str, state: sm.SessionState, now_s: float) -> None:
        if self.at_plug and _plug_waits(state):
            auth = None
        elif self.at_authorization and _auth_waits(state) and not state.plugged:
            auth = state.auth
        else:
            return
        try:
            local_id = await self._recorder.open_plug(cid, now_s, auth)
        except StorageError as exc:
            log.error("transaction start not recorded", connector_id=cid, error=str(exc))
            return
        if local_id is not None:
            self.open[cid] = Early(local_id, auth is not None)

    async def end(self, cid: str, reason: StopReason, now_s: float) -> None:
        """End the connector's transaction that no session joined (if any)."""
        early = self.open.get(cid)
        if early is None:
            return
        try:
            await self._recorder.end_plug(cid, early.local_id, reason, now_s)
        except StorageError as exc:
            log.error("transaction end not recorded", connector_id=cid, error=str(exc))
            return  # still open: ended at the next change, or after a restart
        self.open.pop(cid, None)
