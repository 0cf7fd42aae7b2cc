"""Carries out what the session state machine decides, and keeps track of open sessions.

A close that could not be recorded (disk error) is kept and retried on every tick: the session
must end in the database exactly once, at the moment it really ended.
"""

from __future__ import annotations

from typing import Protocol

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions import state as sm
from edge_controller.log import get_logger
from edge_controller.services.sessions.events import EventKind, SessionEvent, SessionEvents
from edge_controller.services.sessions.recorder import Energy, SessionRecorder
from edge_controller.services.sessions.sampling import SampleClock, Sampling
from edge_controller.storage.errors import StorageError
from edge_controller.storage.sessions_store import PricedCost, SessionRecord

log = get_logger("sessions")


class ConnectorGate(Protocol):
    """The site controller's switch: may this connector draw current at all?"""

    def authorize_charging(self, connector_id: str, allowed: bool) -> None: ...


class SessionActions:
    def __init__(self, recorder: SessionRecorder, gate: ConnectorGate) -> None:
        self.recorder = recorder
        self.events = SessionEvents()
        self.open: dict[str, SessionRecord] = {}
        self._gate = gate
        self._samples: dict[str, SampleClock] = {}
        self._unclosed: dict[int, tuple[str, sm.CloseSession, float]] = {}
        self.stopping = False  # an orderly stop closed every session: none opens any more
        # OCPP 2.x TxStartPoint EVConnected: a transaction starts at the plug-in, before the
        # authorisation; its session joins it (``plugs``: connector -> its local id).
        self.start_at_plug = False
        self.plugs: dict[str, int] = {}
        self._plugs_unseen: set[str] = set()  # found open at start-up, the charger not seen yet

    async def perform(self, cid: str, action: sm.Action, now_s: float) -> sm.Event | None:
        """Carry out ``action``; returns the event it produces for the state machine, if any."""
        if isinstance(action, sm.AllowCharging):
            self._gate.authorize_charging(cid, action.allowed)
            return None
        if isinstance(action, sm.OpenSession):
            return await self._open(cid, action.auth, now_s)
        await self.close(cid, action, now_s)
        return None

    async def _open(self, cid: str, auth: sm.Authorization, now_s: float) -> sm.Event:
        if self.stopping:
            return sm.OpenFailed("daemon stopping")
        try:
            record = await self.recorder.open(cid, auth, now_s, self.plugs.get(cid))
        except StorageError as exc:
            log.error("session start not recorded", connector_id=cid, error=str(exc))
            record = None
        if record is None:
            return sm.OpenFailed("start not recorded")
        self.plugs.pop(cid, None)  # joined: the session goes on with its transaction
        self.track(record)
        self._publish("started", record, now_s)
        return sm.Opened(record.local_id)

    def resume_plug(self, cid: str, local_id: int) -> None:
        """A plug-in transaction left open when the daemon last stopped: it goes on if the EV
        is still there when the charger is first seen, else it ends then."""
        self.plugs[cid] = local_id
        self._plugs_unseen.add(cid)

    async def follow_plug(
        self, cid: str, state: sm.SessionState, now_s: float, *, seen: bool
    ) -> None:
        """Start a transaction when an EV waits for authorisation (the rule on); end the one
        no session joined once no EV waits any more. ``seen``: the charger's state was read."""
        if cid in self._plugs_unseen and not seen:
            return
        self._plugs_unseen.discard(cid)
        waiting = state.plugged and state.phase in sm.PLUGGED_WAITING
        local_id = self.plugs.get(cid)
        if local_id is None:
            opening = state.phase is sm.Phase.OPENING or cid in self.open
            if waiting and self.start_at_plug and not self.stopping and not opening:
                await self._open_plug(cid, now_s)
            return
        if waiting:
            return
        # Not waiting any more: the EV left, or it was given up (the authorisation timeout).
        await self.end_plug(cid, StopReason.OTHER if state.plugged else StopReason.EV_DISCONNECTED,
                            now_s)  # fmt: skip

    async def end_plug(self, cid: str, reason: StopReason, now_s: float) -> None:
        """End the connector's plug-in transaction that no session joined (if any)."""
        local_id = self.plugs.get(cid)
        if local_id is None:
            return
        try:
            await self.recorder.end_plug(cid, local_id, reason, now_s)
        except StorageError as exc:
            log.error("plug-in transaction end not recorded", connector_id=cid, error=str(exc))
            return  # still open: ended at the next change, or after a restart
        self.plugs.pop(cid, None)

    async def _open_plug(self, cid: str, now_s: float) -> None:
        try:
            local_id = await self.recorder.open_plug(cid, now_s)
        except StorageError as exc:
            log.error("plug-in transaction not recorded", connector_id=cid, error=str(exc))
            return
        if local_id is not None:
            self.plugs[cid] = local_id

    async def close(self, cid: str, action: sm.CloseSession, at_s: float) -> None:
        record = self.open.pop(cid, None) or await self.recorder.store.get(action.local_id)
        self._samples.pop(cid, None)
        if record is None:
            log.error("close of an unknown session", local_id=action.local_id)
            return
        try:
            closed, changed = await self.recorder.close(
                record, action.reason, at_s, id_tag=action.id_tag,
                use_last_known=action.use_last_known_meter,
            )  # fmt: skip
        except StorageError as exc:
            log.error("session stop not recorded; will retry", local_id=record.local_id,
                      error=str(exc))  # fmt: skip
            self._unclosed[record.local_id] = (cid, action, at_s)
            return
        self._unclosed.pop(record.local_id, None)
        if changed:
            try:
                priced = await self.recorder.store.cost(closed.local_id)
            except StorageError:
                priced = None  # the stop is recorded; its cost is shown where it is read
            self._publish("stopped", closed, at_s, priced)

    async def retry_closes(self) -> None:
        for cid, action, at_s in list(self._unclosed.values()):
            await self.close(cid, action, at_s)

    async def sample(self, cid: str, sampling: Sampling, now_s: float) -> Energy | None:
        record, clock = self.open.get(cid), self._samples.get(cid)
        if record is None or clock is None:
            return None
        context = clock.due(sampling, now_s)
        if context is None:
            return None
        clock.taken(context, now_s)
        try:
            return await self.recorder.sample(record, now_s, context)
        except StorageError as exc:
            log.error("meter value not recorded", connector_id=cid, error=str(exc))
            return None

    def track(self, record: SessionRecord) -> None:
        self.open[record.connector_id] = record
        self.recorder.remember(record.connector_id, record.last_meter_wh)
        at_s = record.last_meter_at_s
        self._samples[record.connector_id] = SampleClock(at_s, at_s)

    def _publish(
        self, kind: EventKind, record: SessionRecord, now_s: float, cost: PricedCost | None = None
    ) -> None:
        self.events.publish(
            SessionEvent(
                kind=kind,
                connector_id=record.connector_id,
                local_id=record.local_id,
                id_tag=record.id_tag,
                at_s=now_s,
                meter_wh=record.meter_stop_wh or record.last_meter_wh,
                energy_wh=record.energy_wh,
                reason=record.stop_reason,
                cost=cost,
            )
        )
