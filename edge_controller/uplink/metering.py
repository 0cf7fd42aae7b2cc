"""Periodic and clock-aligned MeterValues for the connectors of one identity.

Values of a running session are recorded by the session side (``SessionSamples``): the register
becomes the session's last known one and the message goes to the durable outbox in one commit
(they are transaction messages). Aligned values of idle connectors are sent directly when
online and dropped when not (they are not transaction data, so there is nothing stale to
replay).

Timestamps come from the site's clock (``ClockSync.now_s``) and never go backwards per
connector: at a clock-aligned boundary the aligned sample is taken first, stamped with the
boundary, and the loop wakes at the boundary itself rather than up to a tick later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ocpp_compat import request
from edge_controller.uplink.ports import MeterSample, MeterSource, SessionSample, SessionSamples
from edge_controller.uplink.rpc import CallFailed
from edge_controller.uplink.v16 import meter_values

TICK_S = 1.0
PERIODIC, CLOCK = "Sample.Periodic", "Sample.Clock"


class Metering:
    def __init__(
        self,
        link: IdentityLink,
        meters: MeterSource,
        samples: SessionSamples,
        online_call: Callable[[], Callable[[Any], Any] | None],
    ) -> None:
        self.link = link
        self.meters = meters
        self.samples = samples
        self._online_call = online_call
        self._last_sample_s: dict[str, float] = {}
        self._next_aligned_s: float | None = None

    def _now_s(self) -> float:
        return self.link.clock.now_s(self.link.now_s())

    async def run(self) -> None:
        while True:
            await self.tick(self._now_s())
            await asyncio.sleep(self._sleep_s(self._now_s()))

    def _sleep_s(self, now_s: float) -> float:
        """Until the next tick, or until the next aligned boundary when that comes first."""
        if self._next_aligned_s is None:
            return TICK_S
        return max(0.0, min(TICK_S, self._next_aligned_s - now_s))

    async def tick(self, now_s: float) -> None:
        sessions = self._sessions()
        await self._aligned(now_s, sessions)  # the boundary lies before now: its sample first
        interval_s = self.link.config.int_value("MeterValueSampleInterval", 0)
        for connector_id, local_id in sessions.items():
            last_s = self._last_sample_s.setdefault(connector_id, now_s)
            if interval_s > 0 and now_s - last_s >= interval_s:
                self._last_sample_s[connector_id] = now_s
                await self._record(connector_id, local_id, PERIODIC, now_s)
        for gone in set(self._last_sample_s) - set(sessions):
            del self._last_sample_s[gone]

    async def _aligned(self, now_s: float, sessions: dict[str, int]) -> None:
        interval_s = self.link.config.int_value("ClockAlignedDataInterval", 0)
        if interval_s <= 0 or not self.link.clock.synced:
            self._next_aligned_s = None
            return
        if self._next_aligned_s is None:
            self._next_aligned_s = meter_values.next_aligned_s(now_s, interval_s)
        if now_s < self._next_aligned_s:
            return
        at_s = self._next_aligned_s  # the boundary itself, not the moment we noticed it
        self._next_aligned_s = meter_values.next_aligned_s(now_s, interval_s)
        for connector_id in self.link.topology.connectors(self.link.identity):
            await self._record(connector_id, sessions.get(connector_id), CLOCK, at_s)

    def _sessions(self) -> dict[str, int]:
        mine = set(self.link.topology.connectors(self.link.identity))
        return {
            v.connector_id: int(v.session_id)
            for v in self.link.status.connectors()
            if v.connector_id in mine and v.session_id and v.session_id.isdigit()
        }

    def _payload(self, connector_id: str, sample: MeterSample, context: str, at_s: float
                 ) -> dict[str, Any] | None:  # fmt: skip
        key = "MeterValuesAlignedData" if context == CLOCK else "MeterValuesSampledData"
        values = meter_values.sampled_values(sample, self.link.config.list_value(key), context)
        if not values:
            return None
        return {
            "connectorId": connector_id,
            "meterValue": [{"timestamp": to_iso(at_s), "sampledValue": values}],
        }

    async def triggered(self, connector: int | None, send: Callable[[Any], Any]) -> None:
        """TriggerMessage MeterValues: the current values of one connector (None or 0: all),
        sent now. They are not transaction data, so they skip the outbox; a running session's
        transactionId is added once the CSMS has given one."""
        at_s = self._now_s()
        sessions = self._sessions()
        for number, connector_id in enumerate(self._mine(), start=1):
            if connector not in (None, 0, number):
                continue
            sample = self.meters.sample(connector_id)
            payload = None if sample is None else self._payload(connector_id, sample, "Trigger",
                                                                at_s)  # fmt: skip
            if payload is None:
                continue
            payload["connectorId"] = number
            local_id = sessions.get(connector_id)
            remote = None if local_id is None else await self._remote_id(local_id)
            if remote is not None:
                payload["transactionId"] = remote
            try:
                await send(request("MeterValues", payload))
            except (CallFailed, TimeoutError) as exc:
                self.link.log.warning("triggered meter values not delivered", error=repr(exc))

    def _mine(self) -> list[str]:
        return self.link.topology.connectors(self.link.identity)

    async def _remote_id(self, local_id: int) -> int | None:
        return await self.link.outbox.remote_transaction_id(local_id)

    async def _record(
        self, connector_id: str, local_id: int | None, context: str, at_s: float
    ) -> None:
        sample = self.meters.sample(connector_id)
        if sample is None:
            return
        payload = self._payload(connector_id, sample, context, at_s)
        if local_id is not None:
            await self.samples.record_sample(
                SessionSample(local_id, connector_id, at_s, sample.energy_register_wh, context,
                              self.link.identity, payload)
            )  # fmt: skip
            return
        send = self._online_call()
        if send is None or payload is None:
            return
        payload["connectorId"] = self.link.topology.locate(connector_id).connector
        try:
            await send(request("MeterValues", payload))
        except (CallFailed, TimeoutError) as exc:
            self.link.log.warning("clock-aligned meter values not delivered", error=repr(exc))
