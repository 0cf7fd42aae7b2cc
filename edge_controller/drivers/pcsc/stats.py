"""Per-reader availability, counters and last error events, written by the worker thread, read by
status surfaces."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge_controller.domain.device_errors import DeviceErrors
from edge_controller.domain.snapshot import DeviceView, ErrorEvent


@dataclass
class _Entry:
    pcsc_name: str | None = None
    looked: bool = False  # PC/SC has been asked for it once (before that nothing is known)
    taps: int = 0
    errors: DeviceErrors = field(default_factory=DeviceErrors)
    last_success_s: float | None = None


class ReaderStats:
    def __init__(self, reader_ids: Iterable[str], clock: Callable[[], float] = time.time) -> None:
        self._entries = {rid: _Entry() for rid in reader_ids}
        self._clock = clock
        self._lock = threading.Lock()

    def set_available(self, reader_id: str, pcsc_name: str | None) -> bool:
        """Record the PC/SC name bound to a reader (None: absent); True when it changed."""
        with self._lock:
            entry = self._entries[reader_id]
            changed = entry.pcsc_name != pcsc_name
            entry.pcsc_name, entry.looked = pcsc_name, True
            return changed

    def pcsc_name(self, reader_id: str) -> str | None:
        with self._lock:
            return self._entries[reader_id].pcsc_name

    def count_tap(self, reader_id: str) -> None:
        with self._lock:
            entry = self._entries[reader_id]
            entry.taps += 1
            entry.last_success_s = self._clock()

    def count_error(self, reader_id: str, kind: str, message: str) -> None:
        """Count an error under ``kind`` and keep it, timed now, in the reader's history."""
        with self._lock:
            self._entries[reader_id].errors.record(self._clock(), kind, message)

    def error_histories(self) -> dict[str, tuple[ErrorEvent, ...]]:
        """Each reader's last ``ERROR_HISTORY`` error events, newest first."""
        with self._lock:
            return {rid: e.errors.history() for rid, e in self._entries.items()}

    def views(self) -> tuple[DeviceView, ...]:
        with self._lock:
            return tuple(
                DeviceView(
                    device_id=reader_id,
                    available=entry.pcsc_name is not None,
                    requests=entry.taps,
                    errors=entry.errors.counts(),
                    last_success_s=entry.last_success_s,
                )
                for reader_id, entry in self._entries.items()
                if entry.looked
            )
