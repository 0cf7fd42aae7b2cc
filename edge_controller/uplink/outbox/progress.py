"""A progress line while a large backlog drains: size, rate, time left."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

REPORT_EVERY_S = 5.0
LARGE_BACKLOG = 100


class DrainProgress:
    def __init__(self, log: Any, now_s: Callable[[], float]) -> None:
        self._log = log
        self._now_s = now_s
        self._started_s: float | None = None
        self._start_backlog = 0
        self._next_s = 0.0

    async def tick(self, backlog: Callable[[], Awaitable[int]]) -> None:
        now_s = self._now_s()
        if now_s < self._next_s:
            return
        self._next_s = now_s + REPORT_EVERY_S
        left = await backlog()
        if self._started_s is None:
            if left < LARGE_BACKLOG:
                return
            self._started_s, self._start_backlog = now_s, left
            self._log.info("outbox draining", backlog=left)
            return
        done = self._start_backlog - left
        rate = done / max(now_s - self._started_s, 1e-3)
        eta_s = left / rate if rate > 0 else None
        self._log.info(
            "outbox draining",
            backlog=left,
            rate_per_s=round(rate, 1),
            time_left_s=None if eta_s is None else round(eta_s),
        )

    def finish(self) -> None:
        if self._started_s is not None:
            self._log.info("outbox drained", messages=self._start_backlog)
        self._started_s = None
        self._next_s = 0.0
