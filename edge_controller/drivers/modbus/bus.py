"""A Modbus bus: one link, one transaction at a time, queued and scheduled.

The bus is an async context manager; its worker task lives in the bus's TaskGroup for as long as
the ``async with`` lasts. Devices ``attach`` to get a :class:`DeviceChannel`; a request goes
through the queue (priorities, round-robin) unless it finds a Modbus TCP bus idle, waits the line
silence and the device's gap, and is retried per the device's timing. Failures leave here only
as DeviceUnavailable/DeviceFault.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from edge_controller.domain.backoff import reconnect_delay_s
from edge_controller.domain.latency import Histogram
from edge_controller.domain.snapshot import DeviceView, ErrorEvent
from edge_controller.drivers.modbus import errors, wiretime
from edge_controller.drivers.modbus.pdu import FrameError, check_exception, response_pdu_size
from edge_controller.drivers.modbus.scheduler import QueueFull, RequestQueue
from edge_controller.drivers.modbus.stats import DeviceStats
from edge_controller.drivers.modbus.transport import Transport
from edge_controller.log import get_logger
from edge_controller.ports import DeviceError, DeviceFault, DeviceUnavailable

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
MAX_WAIT_S = 60.0  # safety net for a caller waiting in the queue
SPIN_S = 0.001  # the part of a line gap waited without yielding to the event loop


@dataclass(frozen=True, slots=True)
class DeviceTiming:
    timeout_s: float = 1.0
    retries: int = 2
    min_gap_s: float = 0.0


@dataclass(frozen=True, slots=True)
class LineTiming:
    """Serial line facts (``baud`` None for Modbus TCP)."""

    baud: int | None = None
    gap_s: float = 0.0
    turnaround_s: float = 0.0

    def silence_s(self) -> float:
        return wiretime.silence_s(self.baud) if self.baud else 0.0

    def wire_s(self, frame_bytes: int) -> float:
        return wiretime.frame_time_s(self.baud, frame_bytes) if self.baud else 0.0


def gap_deadline(
    line: LineTiming, device_gap_s: float, bus_last_s: float, device_last_s: float
) -> float:
    """When the next frame to a device may go out. On a serial line every device hears every
    frame, so its gap counts from the last frame of any device. Over Modbus TCP devices do not
    hear each other: a device's gap counts from its own last transaction, and one slow device
    does not hold back a setpoint write to another (the bus's own gap still counts from any)."""
    line_gap_s = max(line.silence_s(), line.gap_s)
    if line.baud:
        return bus_last_s + max(line_gap_s, device_gap_s)
    return max(bus_last_s + line_gap_s, device_last_s + device_gap_s)


@dataclass(slots=True)
class _Request:
    channel: DeviceChannel
    pdu: bytes
    future: asyncio.Future[bytes]
    queued_s: float  # monotonic


class DeviceSetup:
    """The start-up writes a device has received since it last went silent. Shared by every
    connector and poller of the device, so each write goes out once, and again after an outage
    (the device may have rebooted and lost it)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.epoch = 0  # counts outages
        self.written: set[tuple[int, tuple[int, ...]]] = set()  # (address, words) this epoch

    def forget(self) -> None:
        self.epoch += 1
        self.written.clear()


class DeviceChannel:
    """One device (unit id) on a bus, with its own timing and statistics."""

    def __init__(
        self, bus: ModbusBus, device_id: str, unit_id: int, critical: bool, timing: DeviceTiming
    ) -> None:
        self.bus = bus
        self.device_id = device_id
        self.unit_id = unit_id
        self.critical = critical
        self.timing = timing
        self.stats = DeviceStats(device_id)
        self._logger: Any = None  # made at the first line logged (see ``log``)
        self._last_fault: str | None = None
        self.last_activity_s = 0.0  # end of this device's last transaction (monotonic)
        self.setup = DeviceSetup()

    @property
    def log(self) -> Any:
        """Made at its first use: most devices never log, and a bound logger is about 300
        bytes (1,007 devices at 1,000 connectors)."""
        if self._logger is None:
            self._logger = get_logger("modbus", bus=self.bus.bus_id, device=self.device_id)
        return self._logger

    @property
    def available(self) -> bool:
        return self.stats.available

    async def request(self, pdu: bytes, urgent: bool = False) -> bytes:
        """Reply PDU to ``pdu``; writes and a critical device's reads jump the queue."""
        return await self.bus.submit(self, pdu, urgent or self.critical)

    def view(self) -> DeviceView:
        return self.stats.view(self._last_fault)

    def note_fault(self, message: str) -> None:
        """Log a fault once (again only when it changes)."""
        if message != self._last_fault:
            self._last_fault = message
            self.log.warning("device fault", error=message)

    def note_ok(self) -> None:
        """Its replies were used: what was wrong with them is over."""
        self._last_fault = None
        if not self.stats.usable and self.stats.available:
            self.log.info("device recovered")
        self.stats.record_usable()

    def note_unusable(self, kind: str, message: str) -> None:
        """An answered request whose reply the driver could not use: counted as an error of the
        device (``kind``: ``bad_value`` or ``bad_reply``) and kept as what is wrong now."""
        was_usable = self.stats.usable
        self.stats.record_unusable(kind, self.bus.now_s(), message)
        self.note_fault(message)
        if was_usable and not self.stats.usable:
            self.log.warning("device unavailable", error=message, unusable_replies=True)


class ModbusBus:
    def __init__(
        self,
        bus_id: str,
        transport: Transport,
        line: LineTiming = LineTiming(),
        defaults: DeviceTiming = DeviceTiming(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus_id = bus_id
        self.transport = transport
        self.line = line
        self.defaults = defaults
        self._clock = clock
        self._queue: RequestQueue[_Request] = RequestQueue()
        self._wakeup = asyncio.Event()
        self._channels: dict[str, DeviceChannel] = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._busy = False  # a transaction is on the link (the worker's or a caller's own)
        self._current: _Request | None = None  # the worker's transaction
        self._last_activity = 0.0
        # Link failures (failed opens, lost connections) since the last answered transaction:
        # a link that reopens but fails again at once backs off instead of spinning.
        self._connect_failures = 0
        self._retry_at = 0.0
        self._down_since_s: float | None = None  # monotonic start of a link outage
        self.log = get_logger("modbus", bus=bus_id)

    def attach(
        self, device_id: str, unit_id: int, timing: DeviceTiming, critical: bool = False
    ) -> DeviceChannel:
        if device_id in self._channels:
            return self._channels[device_id]
        channel = DeviceChannel(self, device_id, unit_id, critical, timing)
        self._channels[device_id] = channel
        return channel

    def now_s(self) -> float:
        """The wall clock the bus times its devices' events with."""
        return self._clock()

    def detach(self, device_id: str) -> None:
        """Forget a channel that is done (a scan's probes), so it leaves the device views."""
        self._channels.pop(device_id, None)

    def views(self) -> list[DeviceView]:
        """One row per device asked at least once (before that, nothing is known of it)."""
        return [c.view() for c in self._channels.values() if c.stats.requests > 0]

    def latency_histograms(self) -> list[tuple[str, Histogram]]:
        """Each device's answered-request durations, for the devices that have ``views`` rows."""
        return [
            (c.device_id, c.stats.latency_histogram)
            for c in self._channels.values()
            if c.stats.requests > 0
        ]

    def error_histories(self) -> dict[str, tuple[ErrorEvent, ...]]:
        """Each asked device's last error events, newest first."""
        return {
            c.device_id: c.stats.error_history()
            for c in self._channels.values()
            if c.stats.requests > 0
        }

    async def __aenter__(self) -> ModbusBus:
        self._stack = contextlib.AsyncExitStack()
        group = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._worker_task = group.create_task(self._worker(), name=f"modbus-bus-{self.bus_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._worker_task is not None:
            self._worker_task.cancel()
        if self._stack is not None:
            await self._stack.aclose()
        for request in (*self._queue.drain(), *([self._current] if self._current else [])):
            if not request.future.done():
                request.future.set_exception(DeviceUnavailable(f"bus {self.bus_id} closed"))
        await self.transport.link.close()
        if self.transport.recorder is not None:
            self.transport.recorder.close()

    async def submit(self, channel: DeviceChannel, pdu: bytes, urgent: bool) -> bytes:
        if self._worker_task is None or self._worker_task.done():
            raise DeviceUnavailable(f"bus {self.bus_id} is not running")
        if not self._busy and self._queue.empty and self.transport.kind == "tcp":
            return await self._direct(channel, pdu)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        request = _Request(channel, pdu, future, time.monotonic())
        try:
            self._queue.put(channel.device_id, request, urgent)
        except QueueFull as exc:
            channel.stats.record_error(
                "queue_full", self._clock(), "the bus's request queue is full"
            )
            raise DeviceUnavailable(f"{channel.device_id}: bus {self.bus_id} overloaded") from exc
        self._wakeup.set()
        return await future

    async def _direct(self, channel: DeviceChannel, pdu: bytes) -> bytes:
        """The transaction run by its caller on an idle Modbus TCP bus, without the queue, the
        worker and their future (most requests of a site at a 1 s poll find their bus idle).
        Only over TCP: a caller that gives up mid-transaction leaves at most a late reply,
        which its transaction id tells from the next one's."""
        self._busy = True
        try:
            return await self._served(channel, pdu)
        finally:
            self._busy = False
            if not self._queue.empty:
                self._wakeup.set()

    async def _worker(self) -> None:
        while True:
            request = None if self._busy else self._queue.pop()
            if request is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if request.future.done():  # the caller gave up (cancelled)
                continue
            if time.monotonic() - request.queued_s > MAX_WAIT_S:
                request.future.set_exception(
                    DeviceUnavailable(
                        f"{request.channel.device_id}: bus {self.bus_id} busy too long"
                    )
                )
                continue
            self._busy, self._current = True, request
            try:
                reply = await self._served(request.channel, request.pdu)
            except DeviceError as exc:
                if not request.future.done():
                    request.future.set_exception(exc)
            else:
                if not request.future.done():
                    request.future.set_result(reply)
            # Not on cancellation: closing the bus fails the transaction's caller.
            self._busy, self._current = False, None

    async def _served(self, channel: DeviceChannel, pdu: bytes) -> bytes:
        """``_run``; a bug there becomes a DeviceFault and must not stop the bus."""
        try:
            return await self._run(channel, pdu)
        except DeviceError:
            raise
        except Exception as exc:
            self.log.exception("bus transaction failed unexpectedly")
            await self.transport.link.close()
            raise DeviceFault(f"internal error: {exc}") from exc

    async def _run(self, channel: DeviceChannel, pdu: bytes) -> bytes:
        """Attempts with retries; translates the last failure; tracks availability."""
        attempts = 1 + (channel.timing.retries if channel.available else 0)
        failure: BaseException | None = None
        for _ in range(attempts):
            try:
                reply = await self._attempt(channel, pdu)
            except errors.TRANSLATED as exc:
                failure = exc
                message = str(errors.translate(exc, channel.device_id, pdu))
                channel.stats.record_error(errors.error_kind(exc), self._clock(), message)
                if not errors.is_retryable(exc):
                    break
            else:
                self._mark_available(channel, True)
                return reply
        assert failure is not None
        silent = errors.error_kind(failure) in errors.SILENT_KINDS
        self._mark_available(channel, not silent, failure)
        raise errors.translate(failure, channel.device_id, pdu) from failure

    async def _attempt(self, channel: DeviceChannel, pdu: bytes) -> bytes:
        await self._wait_gap(channel)
        await self._ensure_open()
        frame_bytes = len(pdu) + response_pdu_size(pdu) + 6
        # ASCII sends two characters per byte; the timeout starts before the frames are sent.
        wire_s = self.line.wire_s(frame_bytes) * (2 if self.transport.kind == "ascii" else 1)
        started = time.monotonic()
        try:
            reply = await self.transport.transact(
                channel.unit_id, pdu, channel.timing.timeout_s + wire_s
            )
            self._connect_failures = 0  # an answer came back: the link works
            check_exception(pdu, reply)
        except errors.TRANSLATED as exc:
            if isinstance(exc, FrameError):
                await self._discard()
            if errors.is_transport_error(exc):
                await self._lost(exc)
            raise
        finally:
            self._last_activity = channel.last_activity_s = time.monotonic()
        channel.stats.record_success(self._last_activity - started, self._clock())
        return reply

    async def _discard(self) -> None:
        """Drop stale input after garbage; a port that fails even that is lost."""
        try:
            self.transport.link.discard()
        except OSError as exc:
            await self._lost(exc)
            raise

    async def _lost(self, exc: BaseException) -> None:
        """The link failed: close it, say so once per outage; the next open may come at once
        unless the last reopen did not hold either."""
        await self.transport.link.close()
        now = time.monotonic()
        if self._connect_failures:
            delay_s = reconnect_delay_s(
                self._connect_failures - 1, BACKOFF_INITIAL_S, BACKOFF_MAX_S
            )
            self._retry_at = now + delay_s
        self._connect_failures += 1
        if self._down_since_s is None:
            self._down_since_s = now
            self.log.warning("bus connection lost", error=str(exc))

    async def _wait_gap(self, channel: DeviceChannel) -> None:
        deadline = gap_deadline(
            self.line, channel.timing.min_gap_s, self._last_activity, channel.last_activity_s
        )
        spin_s = SPIN_S if self.line.baud else 0.0
        if deadline - time.monotonic() > spin_s:
            await asyncio.sleep(deadline - time.monotonic() - spin_s)
        # The event loop's timers have millisecond resolution; a 1.75 ms line silence needs
        # better, so on a serial line the last fraction is waited out exactly (<= SPIN_S).
        while time.monotonic() < deadline:
            pass

    async def _ensure_open(self) -> None:
        if self.transport.link.is_open:
            return
        now = time.monotonic()
        if now < self._retry_at:
            raise ConnectionError(f"bus {self.bus_id} reconnecting in {self._retry_at - now:.1f} s")
        try:
            await self.transport.link.open()
        except OSError as exc:
            delay_s = reconnect_delay_s(self._connect_failures, BACKOFF_INITIAL_S, BACKOFF_MAX_S)
            self._retry_at = now + delay_s
            self._connect_failures += 1
            first = self._down_since_s is None
            self._down_since_s = self._down_since_s or now
            log = self.log.warning if first else self.log.debug  # once, not every retry
            log("bus connect failed", error=str(exc), retry_in_s=round(delay_s, 1))
            raise
        if self._down_since_s is None:
            self.log.info("bus connected")
        else:
            down_s = round(time.monotonic() - self._down_since_s, 1)
            self.log.info("bus connection restored", down_s=down_s)
            self._down_since_s = None

    def _mark_available(
        self, channel: DeviceChannel, available: bool, failure: BaseException | None = None
    ) -> None:
        if channel.stats.available == available:
            return
        channel.stats.available = available
        if available:
            channel.log.info("device recovered")
        else:
            reason = errors.translate(failure, channel.device_id) if failure else None
            channel.log.warning("device unavailable", error=str(reason))
