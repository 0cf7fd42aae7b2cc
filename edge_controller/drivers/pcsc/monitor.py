"""The worker-thread loop: one PC/SC context watching every configured reader.

Survives reader unplug/replug (rebinding by name pattern on each reader-list change) and a
pcscd restart (a lost context is released and re-established with backoff). Blocking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from edge_controller.domain.model import Token
from edge_controller.drivers.pcsc import pcsc_io
from edge_controller.drivers.pcsc.card_read import CardId, CardReadError, read_card
from edge_controller.drivers.pcsc.config import ReaderConfig, bind_readers
from edge_controller.drivers.pcsc.debounce import TapDetector
from edge_controller.drivers.pcsc.stats import ReaderStats
from edge_controller.log import get_logger

RETRY_MAX_S = 5.0
READ_ATTEMPTS = 3
READ_RETRY_S = 0.2
CHANGED = 0x2  # SCARD_STATE_CHANGED: a flag in the answer, not part of the state


class PcscMonitor:
    def __init__(
        self,
        configs: Sequence[ReaderConfig],
        emit: Callable[[Token], None],
        stats: ReaderStats,
        *,
        wait_timeout_ms: int = 1000,
        retry_s: float = 0.5,
    ) -> None:
        self._configs = {c.reader_id: c for c in configs}
        self._emit = emit
        self._stats = stats
        self._wait_timeout_ms = wait_timeout_ms
        self._retry_s = retry_s
        self._detectors = {c.reader_id: TapDetector() for c in configs}
        self._context: Any = None
        self._bound_ids: list[str] = []
        self._lock = threading.Lock()
        self._log = get_logger("pcsc")
        self._pcsc_failing = False  # an outage is counted once, not once per retry

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set (then call ``wake`` to return promptly)."""
        delay_s = self._retry_s
        while not stop.is_set():
            try:
                context = pcsc_io.establish()
            except pcsc_io.PcscError as exc:
                self._lose_all(exc)
                stop.wait(delay_s)
                delay_s = min(RETRY_MAX_S, delay_s * 2)
                continue
            delay_s = self._retry_s
            with self._lock:
                self._context = context
            try:
                self._watch(context, stop)
            except pcsc_io.PcscError as exc:
                self._lose_all(exc)
                stop.wait(self._retry_s)
            finally:
                with self._lock:
                    self._context = None
                pcsc_io.release(context)

    def wake(self) -> None:
        with self._lock:
            if self._context is not None:
                pcsc_io.cancel(self._context)

    def _watch(self, context: Any, stop: threading.Event) -> None:
        states = self._bind(context)
        while not stop.is_set():
            if not pcsc_io.wait_change(context, states, self._wait_timeout_ms):
                continue
            if states[-1].event & CHANGED or any(s.gone for s in states[:-1]):
                states = self._bind(context)  # the reader list changed
                continue
            for reader_id, state in zip(self._bound_ids, states, strict=False):
                self._on_state(context, reader_id, state)
                state.current = state.event & ~CHANGED

    def _bind(self, context: Any) -> list[pcsc_io.ReaderState]:
        names = pcsc_io.list_readers(context)
        binding = bind_readers(list(self._configs.values()), names)
        self._bound_ids = [rid for rid, name in binding.items() if name is not None]
        self._pcsc_failing = False
        for reader_id, name in binding.items():
            before = self._stats.pcsc_name(reader_id)
            if name is None:
                self._detectors[reader_id].lost()
            if self._stats.set_available(reader_id, name):
                self._log.info("reader availability", reader_id=reader_id, pcsc_name=name)
                if name is None and before is not None:
                    message = f"reader gone: pcscd no longer lists {before!r}"
                    self._stats.count_error(reader_id, "reader_gone", message)
        states = [pcsc_io.ReaderState(str(binding[rid])) for rid in self._bound_ids]
        pnp = pcsc_io.ReaderState(pcsc_io.PNP_NOTIFICATION)
        pcsc_io.wait_change(context, [*states, pnp], 0)  # learn the current states
        for state in [*states, pnp]:
            state.current = state.event & ~CHANGED
        for reader_id, state in zip(self._bound_ids, states, strict=True):
            self._on_state(context, reader_id, state)
        return [*states, pnp]

    def _on_state(self, context: Any, reader_id: str, state: pcsc_io.ReaderState) -> None:
        detector = self._detectors[reader_id]
        if not detector.observe(state.present, state.event_count):
            return
        card = self._read_with_retries(context, reader_id, state)
        if card is None:
            detector.read_failed()
            return
        if detector.card_read(card.raw):
            self._stats.count_tap(reader_id)
            self._emit(card.token)

    def _read_with_retries(
        self, context: Any, reader_id: str, state: pcsc_io.ReaderState
    ) -> CardId | None:
        # A card sliding into the field often fails its first exchange: try again briefly.
        for attempt in range(READ_ATTEMPTS):
            try:
                return read_card(context, state.name, state.atr, self._configs[reader_id])
            except CardReadError as exc:
                if exc.kind == "card_io" and attempt + 1 < READ_ATTEMPTS:
                    time.sleep(READ_RETRY_S)
                    continue
                self._stats.count_error(reader_id, exc.kind, f"card read failed: {exc}")
                self._log.warning("card not read", reader_id=reader_id, error=str(exc))
                break
        return None

    def _lose_all(self, exc: pcsc_io.PcscError) -> None:
        lost = [rid for rid in self._configs if self._stats.set_available(rid, None)]
        for reader_id in self._configs:
            self._detectors[reader_id].lost()
            if not self._pcsc_failing:
                self._stats.count_error(reader_id, *pcsc_failure(exc))
        self._pcsc_failing = True
        if lost:
            self._log.warning("readers unavailable", readers=lost, reason=str(exc))


def pcsc_failure(exc: pcsc_io.PcscError) -> tuple[str, str]:
    """The error kind and message every reader gets when PC/SC itself fails."""
    if isinstance(exc, pcsc_io.ServiceGone):
        return "pcscd_unreachable", f"pcscd unreachable: {exc}"
    return "pcsc_error", f"PC/SC failed: {exc}"
