"""``PcscTokenReader``: the ports.TokenReader for PC/SC readers.

Blocking pyscard calls run in one worker thread for the lifetime of a ``tokens()`` iteration.
Taps cross into asyncio through a bounded queue (``bridge.DropOldestQueue``): when the consumer
falls ``queue_size`` taps behind, the OLDEST tap is dropped and counted as ``queue_overflow``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence

from edge_controller.domain.model import Token
from edge_controller.domain.snapshot import DeviceView, ErrorEvent
from edge_controller.drivers.pcsc.bridge import DropOldestQueue
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.drivers.pcsc.feedback import PcscFeedback, feedback_for
from edge_controller.drivers.pcsc.monitor import PcscMonitor
from edge_controller.drivers.pcsc.stats import ReaderStats
from edge_controller.ports import DeviceFault

STOP_TIMEOUT_S = 5.0


class PcscTokenReader:
    def __init__(
        self,
        configs: Sequence[ReaderConfig],
        *,
        queue_size: int = 16,
        clock: Callable[[], float] = time.time,
        wait_timeout_ms: int = 1000,
    ) -> None:
        if not configs:
            raise ValueError("at least one reader must be configured")
        self._configs = list(configs)
        self._queue_size = queue_size
        self._wait_timeout_ms = wait_timeout_ms
        self.stats = ReaderStats([c.reader_id for c in configs], clock)
        self._running = False

    def devices(self) -> tuple[DeviceView, ...]:
        """Availability and counters of every configured reader."""
        return self.stats.views()

    def error_histories(self) -> dict[str, tuple[ErrorEvent, ...]]:
        """Every configured reader's last error events, newest first."""
        return self.stats.error_histories()

    def feedback(self, reader_id: str) -> PcscFeedback | None:
        """The buzzer/LED capability of a reader, or None when its model has none we know."""
        config = next(c for c in self._configs if c.reader_id == reader_id)
        return feedback_for(config, self.stats)

    def _dropped(self, item: Token | BaseException) -> None:
        if isinstance(item, Token) and item.reader_id is not None:
            message = "tap dropped: taps came faster than they were handled"
            self.stats.count_error(item.reader_id, "queue_overflow", message)

    async def tokens(self) -> AsyncIterator[Token]:
        """Yield one token per tap until the iteration is closed (one iteration at a time)."""
        if self._running:
            raise RuntimeError("tokens() is already being iterated")
        self._running = True
        loop = asyncio.get_running_loop()
        queue: DropOldestQueue[Token | BaseException] = DropOldestQueue(
            loop, self._queue_size, self._dropped
        )
        stop = threading.Event()
        monitor = PcscMonitor(
            self._configs, queue.put_threadsafe, self.stats, wait_timeout_ms=self._wait_timeout_ms
        )
        thread = threading.Thread(
            target=_run_monitor, args=(monitor, stop, queue), name="pcsc", daemon=True
        )
        thread.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise DeviceFault(f"PC/SC worker stopped: {item!r}") from item
                yield item
        finally:
            stop.set()
            monitor.wake()
            await asyncio.to_thread(thread.join, STOP_TIMEOUT_S)
            self._running = False


def _run_monitor(
    monitor: PcscMonitor, stop: threading.Event, queue: DropOldestQueue[Token | BaseException]
) -> None:
    try:
        monitor.run(stop)
    except Exception as exc:  # a bug in the worker: hand it to the consumer to raise
        queue.put_threadsafe(exc)
