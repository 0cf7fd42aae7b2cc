"""Lines that every identity writes at once, folded into a count.

With an identity per charger, a CSMS outage has each of a thousand identities write "CSMS
connection lost" at every reconnect attempt, then "connected to CSMS" and "boot accepted" when
the CSMS is back: thousands of lines in seconds that bury everything else. Per event, the first
few lines of each window are written as they come; the others are only counted, and one line
tells the count (and how many identities) once the window is over.

``Folding`` decides (time is an argument); ``RepeatedLines`` writes, with a timer on the running
loop so that the count is told even when no line of the event comes after the window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FIRST_WRITTEN = 3
WINDOW_S = 60.0


@dataclass
class _Window:
    started_s: float
    method: str
    seen: int = 0
    folded: int = 0
    identities: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Folded:
    """The lines of ``event`` not written in a window that is over."""

    event: str
    method: str
    lines: int
    identities: int


class Folding:
    """Which lines of an event are written: the first ``first`` of each window of ``window_s``
    (a window starts with the first line after the last one ended)."""

    def __init__(self, first: int = FIRST_WRITTEN, window_s: float = WINDOW_S) -> None:
        self.first, self.window_s = first, window_s
        self._windows: dict[str, _Window] = {}

    def take(self, event: str, method: str, identity: str, now_s: float) -> bool:
        """True: write this line. Call ``ended`` first, or an old window goes on counting."""
        window = self._windows.get(event)
        if window is None:
            window = self._windows[event] = _Window(now_s, method)
        window.seen += 1
        if window.seen <= self.first:
            return True
        window.folded += 1
        window.identities.add(identity)
        return False

    def ended(self, now_s: float) -> list[Folded]:
        """The windows over at ``now_s`` (forgotten) that folded lines, with their counts."""
        over = [e for e, w in self._windows.items() if now_s - w.started_s >= self.window_s]
        windows = [self._windows.pop(event) for event in over]
        return [Folded(e, w.method, w.folded, len(w.identities))
                for e, w in zip(over, windows, strict=True) if w.folded]  # fmt: skip

    def next_end_s(self) -> float | None:
        """When the first window that folded lines is over (None: none did)."""
        ends = [w.started_s + self.window_s for w in self._windows.values() if w.folded]
        return min(ends, default=None)


class RepeatedLines:
    """Writes an identity's line through ``log`` unless ``Folding`` folds it."""

    def __init__(self, log: Any, folding: Folding | None = None,
                 now_s: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._log, self._folding, self._now_s = log, folding or Folding(), now_s
        self._timer: asyncio.TimerHandle | None = None

    def info(self, event: str, identity: str, **fields: Any) -> None:
        self._line("info", event, identity, fields)

    def warning(self, event: str, identity: str, **fields: Any) -> None:
        self._line("warning", event, identity, fields)

    def error(self, event: str, identity: str, **fields: Any) -> None:
        self._line("error", event, identity, fields)

    def _line(self, method: str, event: str, identity: str, fields: dict[str, Any]) -> None:
        now_s = self._now_s()
        self._tell(self._folding.ended(now_s))
        if self._folding.take(event, method, identity, now_s):
            getattr(self._log, method)(event, identity=identity, **fields)
        else:
            self._arm(now_s)

    def flush(self) -> None:
        """Tell every count now (the uplink stops)."""
        self._tell(self._folding.ended(float("inf")))

    def _tell(self, folded: list[Folded]) -> None:
        for lines in folded:
            getattr(self._log, lines.method)(
                lines.event,
                folded_lines=lines.lines,
                identities=lines.identities,
                window_s=self._folding.window_s,
            )

    def _arm(self, now_s: float) -> None:
        end_s = self._folding.next_end_s()
        if self._timer is not None or end_s is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the count is told with the next line or at flush
            return
        self._timer = loop.call_later(max(0.0, end_s - now_s), self._due)

    def _due(self) -> None:
        self._timer = None
        now_s = self._now_s()
        self._tell(self._folding.ended(now_s))
        self._arm(now_s)
