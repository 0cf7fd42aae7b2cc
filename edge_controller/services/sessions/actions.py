"""Carries out what the session state machine decides, and keeps track of open sessions.

A close that could not be recorded (disk error) is kept and retried on every tick: the session
must end in the database exactly once, at the moment it really ended.
"""

from __future__ import annotations

from typing import Protocol

from edge_controller.domain.sessions import state as sm
from edge_controller.log import get_logger
from edge_controller.services.sessions.early import EarlyTransactions
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
        self._unclosed: dict[int, tuple[str, sm.CloseSession, float, bool]] = {}
        self.stopping = False  # an orderly stop closed every session: none opens any more
        # Transactions begun before their session (OCPP 2.x TxStartPoint), which it joins.
        self.early = EarlyTransactions(recorder)

    async def perform(
        self, cid: str, action: sm.Action, now_s: float, *, plugged: bool = False
    ) -> sm.Event | None:
        """Carry out ``action``; returns the event it produces for the state machine, if any.
        ``plugged``: the connector's EV is still plugged in after it."""
        if isinstance(action, sm.AllowCharging):
            self._gate.authorize_charging(cid, action.allowed)
            return None
        if isinstance(action, sm.OpenSession):
            return await self._open(cid, action.auth, now_s)
        await self.close(cid, action, now_s, plugged=plugged)
        return None

    async def _open(self, cid: str, auth: sm.Authorization, now_s: float) -> sm.Event:
        if self.stopping:
            return sm.OpenFailed("daemon stopping")
        try:
            record = await self.recorder.open(cid, auth, now_s, self.early.joining(cid))
        except StorageError as exc:
            log.error("session start not recorded", connector_id=cid, error=str(exc))
            record = None
        if record is None:
            return sm.OpenFailed("start not recorded")
        self.early.joined(cid)  # the session goes on with its transaction
        self.track(record)
        self._publish("started", record, now_s)
        return sm.Opened(record.local_id)

    async def close(
        self, cid: str, action: sm.CloseSession, at_s: float, *, plugged: bool = False
    ) -> None:
        """Close the session; its transaction goes on after it where the stop points say so
        and its EV is still ``plugged`` in."""
        record = self.open.pop(cid, None) or await self.recorder.store.get(action.local_id)
        self._samples.pop(cid, None)
        if record is None:
            log.error("close of an unknown session", local_id=action.local_id)
            return
        goes_on = plugged and self.early.outlives(action.reason) and self.recorder.routed(cid)
        try:
            closed, changed = await self.recorder.close(
                record, action.reason, at_s, id_tag=action.id_tag,
                use_last_known=action.use_last_known_meter, goes_on=goes_on,
            )  # fmt: skip
        except StorageError as exc:
            log.error("session stop not recorded; will retry", local_id=record.local_id,
                      error=str(exc))  # fmt: skip
            self._unclosed[record.local_id] = (cid, action, at_s, plugged)
            return
        self._unclosed.pop(record.local_id, None)
        if changed and goes_on:
            self.early.went_on(closed)
        if changed:
            try:
                priced = await self.recorder.store.cost(closed.local_id)
            except StorageError:
                priced = None  # the stop is recorded; its cost is shown where it is read
            self._publish("stopped", closed, at_s, priced)

    async def retry_closes(self) -> list[str]:
        """Record the stops a storage error left unrecorded again; the connectors retried."""
        retried = list(self._unclosed.values())
        for cid, action, at_s, plugged in retried:
            await self.close(cid, action, at_s, plugged=plugged)
        return [cid for cid, *_ in retried]

    def sample_due(self, cid: str, sampling: Sampling, now_s: float) -> bool:
        """Whether ``sample`` would take one at ``now_s`` (after a clock step back it counts
        from the step, as ``sample`` would)."""
        clock = self._samples.get(cid)
        return clock is not None and cid in self.open and clock.due(sampling, now_s) is not None

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
