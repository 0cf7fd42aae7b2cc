"""OCPP 2.1 periodic event streams of meter data (use cases N11-N15).

A CSMS asks for one with a Periodic monitor on an EVSE's ``Power`` that carries
``periodicEventStream`` (SetVariableMonitoring): the monitor's value is how often the power is
read (s); the stream's ``interval`` how long read values may wait (s) and ``values`` how many
go out together (0: no such bound). The station then opens the stream (OpenPeriodicEventStream,
its id the monitor's) and, once the CSMS accepted it, sends what it read as
NotifyPeriodicEventStream, a SEND that is never answered: ``basetime`` the time of the first
value, each value's ``t`` its offset from it, ``pending`` what is left for the next message.
GetPeriodicEventStream lists the open streams, AdjustPeriodicEventStream changes their
``interval`` and ``values``; clearing the monitor closes its stream (ClosePeriodicEventStream).

Streams belong to a connection: each new one opens them again, and values read while offline
are not kept (they are live data, not transaction data: meter values of sessions go through
the outbox). A stream the CSMS refused is not asked for again on that connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.rpc import CallFailed, on
from edge_controller.uplink.v201.monitoring import Monitor, MonitoringHandlers

TICK_S = 0.1
MAX_DATA = 100  # values in one NotifyPeriodicEventStream; the rest is ``pending``


@dataclass(frozen=True, slots=True)
class StreamParams:
    interval_s: int  # read values wait at most this long (0: no time bound)
    values: int  # this many read values go out together (0: no count bound)

    def wire(self) -> dict[str, int]:
        return {"interval": self.interval_s, "values": self.values}


@dataclass(frozen=True, slots=True)
class Batch:
    """One NotifyPeriodicEventStream's values: ``(offset from basetime, value)``."""

    basetime_s: float
    data: tuple[tuple[float, str], ...]
    pending: int


@dataclass
class StreamBuffer:
    """Values read and not sent yet, and when they are due. Pure: time is an argument."""

    params: StreamParams
    waiting: list[tuple[float, str]] = field(default_factory=list)
    cut: bool = False  # the last message could not take every value due: the rest is due

    def add(self, at_s: float, value: str) -> None:
        self.waiting.append((at_s, value))

    def due(self, now_s: float) -> bool:
        """Enough values are waiting, or the oldest has waited ``interval``, or the last
        message left some of its values pending. With neither bound set, each value goes out
        as it is read."""
        if not self.waiting:
            return False
        if self.cut:
            return True
        count, interval_s = self.params.values, self.params.interval_s
        if count > 0 and len(self.waiting) >= count:
            return True
        if interval_s > 0:
            return now_s - self.waiting[0][0] >= interval_s
        return count == 0

    def take(self, now_s: float) -> Batch | None:
        """The values to send now (oldest first, at most ``MAX_DATA``), or None."""
        if not self.due(now_s):
            return None
        sent, self.waiting = self.waiting[:MAX_DATA], self.waiting[MAX_DATA:]
        self.cut = bool(self.waiting)
        base_s = sent[0][0]
        data = tuple((round(at_s - base_s, 3), value) for at_s, value in sent)
        return Batch(base_s, data, len(self.waiting))


_NONE = StreamParams(0, 0)


def notify_payload(stream_id: int, batch: Batch) -> dict[str, Any]:
    return {
        "id": stream_id,
        "pending": batch.pending,
        "basetime": to_iso(batch.basetime_s),
        "data": [{"t": t, "v": value} for t, value in batch.data],
    }


def params_of(monitor: Monitor) -> StreamParams | None:
    if monitor.stream_interval_s is None or monitor.stream_values is None:
        return None
    return StreamParams(monitor.stream_interval_s, monitor.stream_values)


class StreamChannel(Protocol):
    """What a stream needs of the connection (``RpcEndpoint``)."""

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def send_unconfirmed(self, action: str, payload: dict[str, Any]) -> None: ...


@dataclass
class _Stream:
    monitor: Monitor
    buffer: StreamBuffer
    next_read_s: float


class PeriodicStreams:
    """The streams of one 2.1 connection. ``read(evse)``: the EVSE's power now, "" unknown."""

    def __init__(
        self, link: IdentityLink, monitoring: MonitoringHandlers, read: Callable[[int], str]
    ) -> None:
        self.link = link
        self.monitoring = monitoring
        self._read = read
        self.open: dict[int, _Stream] = {}
        self._refused: set[int] = set()

    def _now_s(self) -> float:
        return self.link.clock.now_s(self.link.now_s())

    @on("GetPeriodicEventStream")
    async def on_get_periodic_event_stream(self, payload: dict[str, Any]) -> dict[str, Any]:
        del payload
        if not self.open:
            return {}
        return {"constantStreamData": [_constant(s.monitor.id, s) for s in self.open.values()]}

    @on("AdjustPeriodicEventStream")
    async def on_adjust_periodic_event_stream(self, payload: dict[str, Any]) -> dict[str, Any]:
        stream = self.open.get(int(payload["id"]))
        if stream is None:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownStream"}}
        wire = payload["params"]
        params = StreamParams(int(wire.get("interval", 0)), int(wire.get("values", 0)))
        stream.buffer.params = params
        self.monitoring.adjust_stream(stream.monitor.id, params.interval_s, params.values)
        self.link.log.info("periodic event stream adjusted", id=stream.monitor.id,
                           interval_s=params.interval_s, values=params.values)  # fmt: skip
        return {"status": "Accepted"}

    async def run(self, channel: StreamChannel) -> None:
        while True:
            await self._reconcile(channel)
            now_s = self._now_s()
            for stream_id, stream in list(self.open.items()):
                if now_s >= stream.next_read_s:
                    stream.next_read_s = now_s + max(stream.monitor.value, TICK_S)
                    value = self._read(stream.monitor.evse or 0)
                    if value:
                        stream.buffer.add(now_s, value)
                batch = stream.buffer.take(now_s)
                if batch is not None:
                    payload = notify_payload(stream_id, batch)
                    await channel.send_unconfirmed("NotifyPeriodicEventStream", payload)
            await asyncio.sleep(TICK_S)

    async def _reconcile(self, channel: StreamChannel) -> None:
        """Open a stream for each streaming monitor, close the streams of monitors gone."""
        wanted = {m.id: m for m in self.monitoring.monitors.values() if params_of(m)}
        for stream_id in [i for i in self.open if i not in wanted]:
            del self.open[stream_id]
            await self._quietly(channel, "ClosePeriodicEventStream", {"id": stream_id})
            self.link.log.info("periodic event stream closed", id=stream_id)
        self._refused &= set(wanted)
        for monitor in wanted.values():
            stream = self.open.get(monitor.id)
            if stream is not None:  # a monitor set again under its id: its new values
                stream.monitor, stream.buffer.params = monitor, params_of(monitor) or _NONE
            elif monitor.id not in self._refused:
                await self._open(channel, monitor)

    async def _open(self, channel: StreamChannel, monitor: Monitor) -> None:
        params = params_of(monitor)
        assert params is not None
        stream = _Stream(monitor, StreamBuffer(params), self._now_s())
        constant = {"constantStreamData": _constant(monitor.id, stream)}
        answer = await self._quietly(channel, "OpenPeriodicEventStream", constant)
        if answer is None or answer.get("status") != "Accepted":
            self._refused.add(monitor.id)
            self.link.log.warning("CSMS refused a periodic event stream", id=monitor.id)
            return
        self.open[monitor.id] = stream
        self.link.log.info("periodic event stream open", id=monitor.id, evse=monitor.evse)

    async def _quietly(
        self, channel: StreamChannel, action: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        try:
            return await channel.call(action, payload)
        except (CallFailed, TimeoutError) as exc:
            self.link.log.warning("CSMS did not take a message", action=action, error=repr(exc))
            return None


def _constant(stream_id: int, stream: _Stream) -> dict[str, Any]:
    return {
        "id": stream_id,
        "variableMonitoringId": stream.monitor.id,
        "params": stream.buffer.params.wire(),
    }
