"""The commissioning runs through the daemon's open buses (``scan``, ``selftest``): one at a time
whoever starts them (the status socket for the command line, the console), with their progress
and the last few runs, with who started them and their results, kept in memory for the console
to show; every change is a new ``version`` that waiters on ``changed`` learn of at once."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from edge_controller.api.changes import Versions

BUSY = "a scan or selftest is already running through the daemon: try again later"
RUNS_KEPT = 5  # the last runs kept (a scan's result is a few kB)

Job = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class Busy(RuntimeError):
    """Another scan or selftest runs."""


@dataclass(slots=True)
class Run:
    kind: str  # "scan" | "selftest"
    by: str  # the console user, or "command line"
    started_s: float  # wall time
    done: int = 0  # probes sent (scan) or stages passed (selftest)
    total: int = 0
    found: int = 0  # devices found (scan) or items checked (selftest)
    finished_s: float | None = None
    result: dict[str, Any] | None = None  # the command's JSON
    error: str | None = None


class CommissioningRuns(Versions):
    """The running job and the last few; each start, progress and end is a new version."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.jobs: dict[str, Job] = {}
        self.current: Run | None = None  # the running one, else the last one
        self._kept: deque[Run] = deque(maxlen=RUNS_KEPT)  # oldest first, the current one too
        self._clock = clock

    @property
    def recent(self) -> tuple[Run, ...]:
        """The last ``RUNS_KEPT`` runs, newest first (the running one first while it runs)."""
        return tuple(reversed(self._kept))

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.finished_s is None

    def begin(self, kind: str, by: str) -> Run:
        """Claim the buses for a run (synchronously: no second start slips in between)."""
        if kind not in self.jobs:
            raise ValueError(f"no {kind} here")
        if self.running:
            raise Busy(BUSY)
        self.current = Run(kind, by, self._clock())
        self._kept.append(self.current)
        self.bump()
        return self.current

    async def finish(self, run: Run, data: dict[str, Any]) -> dict[str, Any]:
        """Run the claimed job; its result (or its error, raised again) stays on ``run``."""
        try:
            run.result = await self.jobs[run.kind](data)
        except Exception as exc:
            run.error = str(exc) or type(exc).__name__
            raise
        finally:
            run.finished_s = self._clock()
            self.bump()
        return run.result

    def note(self, done: int, total: int, found: int) -> None:
        """Progress of the running job (its job calls it)."""
        if self.running and self.current is not None:
            self.current.done, self.current.total, self.current.found = done, total, found
            self.bump()
