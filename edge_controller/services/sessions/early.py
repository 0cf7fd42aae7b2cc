"""Transactions begun before their session (OCPP 2.x TxStartPoint): at the plug-in, before any
authorisation (EVConnected), or at the authorisation, before the plug-in (Authorized).

Such a transaction is recorded with its first event (``storage.plugs_store``) and joined by the
session once both are there: the session takes its local id, so the CSMS sees one transaction.
One no session joined ends when what began it is lost: the EV leaves, the authorisation is
stopped or times out, the daemon stops. Nothing is allowed to charge before the session: the
state machine alone decides that.

A session's transaction goes on after it where the stop point is one of the two alone
(TxStopPoint EVConnected: until the EV leaves; Authorized: until the authorisation ends), when
the session ends otherwise with its EV still plugged in: the driver stopped it, or a limit did.
The session, its energy and its bill end there; the transaction ends with its stop point, or
with a stop from the CSMS. Its connector takes no new session before the EV leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions import state as sm
from edge_controller.domain.sessions.events import EvWaitEnded, IdToken, SessionRegisters
from edge_controller.log import get_logger
from edge_controller.services.sessions.recorder import Joins, SessionRecorder
from edge_controller.storage.errors import StorageError
from edge_controller.storage.plugs_store import OpenPlug
from edge_controller.storage.sessions_store import SessionRecord

log = get_logger("sessions")
# The station's own ends: its transactions end with the session, whatever the stop point.
STATION_ENDS = frozenset({StopReason.REBOOT, StopReason.POWER_LOSS, StopReason.HARD_RESET,
                          StopReason.SOFT_RESET, StopReason.EMERGENCY_STOP})  # fmt: skip
# Ends of the authorisation (TxStopPoint Authorized); an EV leaving is one too, as
# StopTxOnEVSideDisconnect (always true here) says.
AUTHORIZATION_ENDS = frozenset({StopReason.LOCAL, StopReason.REMOTE, StopReason.DEAUTHORIZED,
                                StopReason.MASTER_PASS, StopReason.COST_LIMIT,
                                StopReason.EV_DISCONNECTED})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Early:
    local_id: int
    authorized: bool  # begun at the authorisation (else at the plug-in)
    # Going on after its session: that session's registers (its energy) and id tag.
    session: SessionRegisters | None = None
    id_tag: str | None = None


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
        self.until_unplug = False  # TxStopPoint EVConnected alone
        self.until_deauthorized = False  # TxStopPoint Authorized alone
        self.open: dict[str, Early] = {}  # connector -> its transaction no session joined yet
        self._unseen: set[str] = set()  # found open at start-up, the charger not seen yet

    def joining(self, cid: str) -> Joins:
        """What a session opening now at ``cid`` joins."""
        found = self.open.get(cid)
        return None if found is None else (found.local_id, found.authorized)

    def joined(self, cid: str) -> None:
        self.open.pop(cid, None)

    def outlives(self, reason: StopReason) -> bool:
        """Whether a session ending for ``reason`` with its EV still plugged in leaves its
        transaction going on (the stop point is EVConnected or Authorized alone)."""
        if reason in STATION_ENDS:
            return False
        return self.until_unplug or (self.until_deauthorized and reason not in AUTHORIZATION_ENDS)

    def went_on(self, record: SessionRecord) -> None:
        """The transaction of the session ``record`` (stopped) goes on after it."""
        registers = SessionRegisters(record.start_at_s, record.meter_start_wh,
                                     record.stop_at_s or record.last_meter_at_s,
                                     record.meter_stop_wh or record.last_meter_wh)  # fmt: skip
        self.open[record.connector_id] = Early(record.local_id, False, registers, record.id_tag)

    def after_session_of(self, cid: str) -> Early | None:
        """The connector's transaction going on after its session, if any."""
        found = self.open.get(cid)
        return found if found is not None and found.session is not None else None

    def resume(self, plug: OpenPlug) -> None:
        """One left open when the daemon last stopped: decided when the charger is first seen
        (a plug-in's, or one going on after its session, goes on if the EV is still there; an
        authorisation was lost with the process, so its transaction ends)."""
        early = Early(plug.local_id, plug.authorized, plug.session, plug.id_tag)
        self.open[plug.connector_id] = early
        self._unseen.add(plug.connector_id)

    async def follow(
        self, cid: str, state: sm.SessionState, event: sm.Event, now_s: float, *, stopping: bool
    ) -> None:
        """Start one where the rules say, end the one whose beginning was lost (``event``: what
        the connector's state machine was just given)."""
        if cid in self._unseen:
            if not isinstance(event, sm.ChargerSeen):
                return
            self._unseen.discard(cid)
            if self.open[cid].authorized and self.open[cid].session is None:
                await self.end(cid, StopReason.POWER_LOSS, now_s)
        early = self.open.get(cid)
        if early is None:
            if not stopping and state.phase is not sm.Phase.OPENING:
                await self._start(cid, state, now_s)
            return
        if early.session is not None:  # after its session: until the EV leaves
            if stopping or not state.plugged:
                reason = StopReason.REBOOT if stopping else StopReason.EV_DISCONNECTED
                await self.end(cid, reason, now_s)
            return
        if _auth_waits(state) if early.authorized else _plug_waits(state):
            return
        await self.end(cid, _lost(early, state, event, stopping), now_s)

    def unseen(self, cid: str) -> bool:
        """Its transaction was found open at start-up and its charger is not seen yet."""
        return cid in self._unseen

    def settled(self, cid: str, state: sm.SessionState, *, stopping: bool) -> bool:
        """Whether ``follow`` would do nothing for ``state`` on a tick (no event): no
        transaction to begin or end here. ``follow``'s rules, without its awaits: the session
        side's tick skips such connectors, and a thousand of them are settled at most ticks."""
        if cid in self._unseen:
            return True
        early = self.open.get(cid)
        if early is None:
            return stopping or state.phase is sm.Phase.OPENING or not self._begins(state)
        if early.session is not None:
            return not stopping and state.plugged
        return _auth_waits(state) if early.authorized else _plug_waits(state)

    def _begins(self, state: sm.SessionState) -> bool:
        """A transaction begins before its session in ``state`` (the start points say so)."""
        if self.at_plug and _plug_waits(state):
            return True
        return self.at_authorization and _auth_waits(state) and not state.plugged

    async def _start(self, cid: str, state: sm.SessionState, now_s: float) -> None:
        if not self._begins(state):
            return
        auth = None if self.at_plug and _plug_waits(state) else state.auth
        try:
            local_id = await self._recorder.open_plug(cid, now_s, auth)
        except StorageError as exc:
            log.error("transaction start not recorded", connector_id=cid, error=str(exc))
            return
        if local_id is not None:
            self.open[cid] = Early(local_id, auth is not None)

    async def end(
        self, cid: str, reason: StopReason, now_s: float, id_token: IdToken | None = None
    ) -> None:
        """End the connector's transaction that no session runs in (if any); ``id_token``:
        the card that ended it."""
        early = self.open.get(cid)
        if early is None:
            return
        if await self._ended(self._end_of(cid, early, reason, now_s, id_token)):
            self.open.pop(cid, None)

    async def end_gone(self, plug: OpenPlug, identity: str | None, now_s: float) -> None:
        """End one left open on a connector the site no longer has (its config changed
        meanwhile), for ``identity``, where its other events went: nobody can say when its EV
        left, so as after a power loss."""
        early = Early(plug.local_id, plug.authorized, plug.session, plug.id_tag)
        ended = self._end_of(plug.connector_id, early, StopReason.POWER_LOSS, now_s, None)
        await self._ended(ended, identity)

    def _end_of(
        self, cid: str, early: Early, reason: StopReason, now_s: float, id_token: IdToken | None
    ) -> EvWaitEnded:
        session = early.session
        if session is not None:  # its energy is the session's: the registers go along
            session = replace(session, with_begin=self._recorder.stop_transaction_data)
        return EvWaitEnded(early.local_id, cid, now_s, reason, session, id_token)

    async def _ended(self, ended: EvWaitEnded, identity: str | None = None) -> bool:
        cid = ended.connector_id
        try:
            await self._recorder.end_plug(ended, identity)
        except StorageError as exc:
            log.error("transaction end not recorded", connector_id=cid, error=str(exc))
            return False  # still open: ended at the next change, or after a restart
        return True
