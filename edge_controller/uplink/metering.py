"""Periodic and clock-aligned MeterValues for the connectors of one identity.

Values of a running session are recorded by the session side (``SessionSamples``): the register
becomes the session's last known one and the sample goes to the durable outbox in one commit
(they are transaction data). Aligned values of idle connectors are sent directly when
online and dropped when not (they are not transaction data, so there is nothing stale to
replay).

Timestamps come from the site's clock (``ClockSync.now_s``) and never go backwards per
connector: at a clock-aligned boundary the aligned sample is taken first, stamped with the
boundary, and the loop wakes at the boundary itself rather than up to a tick later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from edge_controller.domain.sessions.events import MeterSampled, ReadingContext
from edge_controller.uplink.link import IdentityCore
from edge_controller.uplink.ocpp_compat import request
from edge_controller.uplink.ports import MeterSample, MeterSource, SessionSample, SessionSamples
from edge_controller.uplink.rpc import CallFailed
from edge_controller.uplink.v16 import meter_values, render

TICK_S = 1.0
PERIODIC, CLOCK = ReadingContext.PERIODIC, ReadingContext.CLOCK_ALIGNED
TRIGGER = ReadingContext.TRIGGER


class Due(NamedTuple):
    """A sample to take: of which connector, in which session (None: none), why, stamped when."""

    connector_id: str
    local_id: int | None
    context: ReadingContext
    at_s: float


class Metering:
    def __init__(
        self,
        core: IdentityCore,
        meters: MeterSource,
        samples: SessionSamples,
        online_call: Callable[[], Callable[[Any], Any] | None],
    ) -> None:
        self.core = core
        self._log = core.log
        self.meters = meters
        self.samples = samples
        self._online_call = online_call
        self._last_sample_s: dict[str, float] = {}
        self._next_aligned_s: float | None = None
        self._connection = render.Connection(core.topology, core.clock)

    def now_s(self) -> float:
        return self.core.clock.now_s(self.core.now_s())

    def sleep_s(self, now_s: float) -> float:
        """Until the next tick, or until the next aligned boundary when that comes first."""
        if self._next_aligned_s is None:
            return TICK_S
        return max(0.0, min(TICK_S, self._next_aligned_s - now_s))

    def due(self, now_s: float) -> list[Due]:
        """The samples to take at ``now_s``, in order, with what they change already counted:
        none in most seconds, so nothing is awaited then."""
        sessions = self._sessions()
        found = self._aligned(now_s, sessions)  # the boundary lies before now: its sample first
        interval_s = self.core.config.int_value("MeterValueSampleInterval", 0)
        for connector_id, local_id in sessions.items():
            last_s = self._last_sample_s.setdefault(connector_id, now_s)
            if interval_s > 0 and now_s - last_s >= interval_s:
                self._last_sample_s[connector_id] = now_s
                found.append(Due(connector_id, local_id, PERIODIC, now_s))
        for gone in set(self._last_sample_s) - set(sessions):
            del self._last_sample_s[gone]
        return found

    async def record(self, due: Sequence[Due]) -> None:
        for sample in due:
            await self._record(sample.connector_id, sample.local_id, sample.context, sample.at_s)

    def _aligned(self, now_s: float, sessions: dict[str, int]) -> list[Due]:
        interval_s = self.core.config.int_value("ClockAlignedDataInterval", 0)
        if interval_s <= 0 or not self.core.clock.synced:
            self._next_aligned_s = None
            return []
        if self._next_aligned_s is None:
            self._next_aligned_s = meter_values.next_aligned_s(now_s, interval_s)
        if now_s < self._next_aligned_s:
            return []
        at_s = self._next_aligned_s  # the boundary itself, not the moment we noticed it
        self._next_aligned_s = meter_values.next_aligned_s(now_s, interval_s)
        return [
            Due(connector_id, sessions.get(connector_id), CLOCK, at_s)
            for connector_id in self.core.topology.connectors(self.core.identity)
        ]

    def _sessions(self) -> dict[str, int]:
        return {
            s.connector_id: int(s.session_id)
            for s in self.core.status.states_of(self._mine())
            if s.session_id and s.session_id.isdigit()
        }

    def _sampled(
        self, connector_id: str, local_id: int | None, context: ReadingContext, at_s: float
    ) -> tuple[MeterSampled, float | None] | None:
        """The sample of the measurands the CSMS asked for (and the energy register), or None
        when the connector has no reading."""
        sample = self.meters.sample(connector_id)
        if sample is None:
            return None
        key = "MeterValuesAlignedData" if context is CLOCK else "MeterValuesSampledData"
        found = meter_values.readings(sample, self.core.config.list_value(key))
        phases = meter_values.phases_drawing(sample)
        event = MeterSampled(local_id, connector_id, at_s, context, found, phases_used=phases)
        return event, sample.energy_register_wh

    def _request(self, event: MeterSampled, connector: int, remote_id: int | None) -> Any:
        payload = render.meter_values(event, connector, self._connection)
        if remote_id is not None:
            payload["transactionId"] = remote_id
        return request(render.SAMPLE, payload)

    async def triggered(self, connector: int | None, send: Callable[[Any], Any]) -> None:
        """TriggerMessage MeterValues: the current values of one connector (None or 0: all),
        sent now. They are not transaction data, so they skip the outbox; a running session's
        transactionId is added once the CSMS has given one."""
        for number, event in self.triggered_samples(connector):
            local_id = event.session_local_id
            remote = None if local_id is None else await self._remote_id(local_id)
            try:
                await send(self._request(event, number, remote))
            except (CallFailed, TimeoutError) as exc:
                self._log.warning("triggered meter values not delivered", error=repr(exc))

    def triggered_samples(self, connector: int | None) -> list[tuple[int, MeterSampled]]:
        """The current values (context Trigger) of connector number ``connector`` (None or
        0: each), with its number; a connector without a reading is left out."""
        at_s, sessions = self.now_s(), self._sessions()
        found = []
        for number, connector_id in enumerate(self._mine(), start=1):
            if connector not in (None, 0, number):
                continue
            taken = self._sampled(connector_id, sessions.get(connector_id), TRIGGER, at_s)
            if taken is not None and taken[0].readings:
                found.append((number, taken[0]))
        return found

    def running(self, connector: int | None) -> list[str]:
        """The connectors with a running session among number ``connector`` (None or 0: all)."""
        sessions = self._sessions()
        return [
            connector_id
            for number, connector_id in enumerate(self._mine(), start=1)
            if connector in (None, 0, number) and connector_id in sessions
        ]

    async def record_triggered(self, connector: int | None) -> int:
        """TriggerMessage TransactionEvent (2.x): a sample of each open transaction on
        connector number ``connector`` (None or 0: all), so it goes through the outbox as an
        Updated event with triggerReason Trigger. A running session's is recorded as every
        sample is; one of a transaction no session runs in (begun before its session, or
        going on after it) is queued as it is, with or without readings: there is no
        session register to keep. Returns how many of those were queued (their sender is
        not woken by the session side)."""
        at_s, sessions = self.now_s(), self._sessions()
        queued = 0
        for connector_id, local_id in self._transactions(connector).items():
            if connector_id in sessions:
                await self._record(connector_id, local_id, TRIGGER, at_s)
                continue
            taken = self._sampled(connector_id, local_id, TRIGGER, at_s)
            readings = () if taken is None else taken[0].readings
            phases = None if taken is None else taken[0].phases_used
            event = MeterSampled(local_id, connector_id, at_s, TRIGGER, readings,
                                 phases_used=phases, outside_session=True)  # fmt: skip
            # Checked as it is queued: the view may still show one whose end is committed.
            if await self.core.outbox.append_while_open(self.core.identity, event):
                queued += 1
        return queued

    def _transactions(self, connector: int | None) -> dict[str, int]:
        """The local ids of the open transactions (a session's or not) on connector number
        ``connector`` (None or 0: all), by connector."""
        sessions = self._sessions()
        views = {v.connector_id: v for v in self.core.status.connectors_of(self._mine())}
        found = {}
        for number, connector_id in enumerate(self._mine(), start=1):
            view = views.get(connector_id)
            if connector not in (None, 0, number) or view is None:
                continue
            if connector_id in sessions:
                found[connector_id] = sessions[connector_id]
            elif view.transaction_id is not None and view.transaction_id.isdigit():
                found[connector_id] = int(view.transaction_id)
        return found

    async def connector_of(self, transaction_id: int) -> int | None:
        """The number of the connector whose running session has the CSMS's
        ``transaction_id`` (None: none here)."""
        sessions = self._sessions()
        for number, connector_id in enumerate(self._mine(), start=1):
            local_id = sessions.get(connector_id)
            if local_id is not None and await self._remote_id(local_id) == transaction_id:
                return number
        return None

    def sample_of(self, connector: int) -> MeterSample | None:
        """The latest values of connector number ``connector`` (None: no reading)."""
        mine = self._mine()
        return self.meters.sample(mine[connector - 1]) if 0 < connector <= len(mine) else None

    def _mine(self) -> list[str]:
        return self.core.topology.connectors(self.core.identity)

    async def _remote_id(self, local_id: int) -> int | None:
        return await self.core.outbox.remote_transaction_id(local_id)

    async def _record(
        self, connector_id: str, local_id: int | None, context: ReadingContext, at_s: float
    ) -> None:
        taken = self._sampled(connector_id, local_id, context, at_s)
        if taken is None:
            return
        event, energy_wh = taken
        if local_id is not None:
            await self.samples.record_sample(SessionSample(self.core.identity, energy_wh, event))
            return
        send = self._online_call()
        if send is None or not event.readings:
            return
        number = self.core.topology.locate(connector_id).connector
        try:
            await send(self._request(event, number, None))
        except (CallFailed, TimeoutError) as exc:
            self._log.warning("clock-aligned meter values not delivered", error=repr(exc))
