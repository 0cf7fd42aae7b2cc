"""Retrying transient failures with backoff and jitter; bugs propagate and end the process."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from edge_controller.ports import DeviceUnavailable

TRANSIENT: tuple[type[BaseException], ...] = (DeviceUnavailable, OSError, TimeoutError)


@dataclass
class Backoff:
    """Exponential backoff with full jitter; ``reset()`` after a success."""

    base_s: float = 0.5
    max_s: float = 30.0
    attempt: int = 0
    rng: random.Random | None = None

    def next_delay_s(self) -> float:
        ceiling = min(self.max_s, self.base_s * (2**self.attempt))
        self.attempt += 1
        return (self.rng or random).uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


async def run_with_retries(
    name: str,
    operation: Callable[[], Awaitable[None]],
    log: Any,
    *,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
    backoff: Backoff | None = None,
) -> None:
    """Run ``operation`` forever: a transient error is logged once per outage and retried after a
    backoff; any other exception is a bug and propagates so the supervisor ends the process."""
    backoff = backoff or Backoff()
    failing = False
    loop = asyncio.get_running_loop()
    while True:
        started_s = loop.time()
        try:
            await operation()
            return
        except transient as exc:
            if loop.time() - started_s > backoff.max_s:
                backoff.reset()  # it worked for a while: this is a new outage
                failing = False
            delay_s = backoff.next_delay_s()
            if not failing:
                log.warning(
                    "transient failure, retrying",
                    service=name,
                    error=str(exc) or type(exc).__name__,
                )
                failing = True
            await asyncio.sleep(delay_s)
