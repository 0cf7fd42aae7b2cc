"""Periodic storage upkeep: prune acknowledged outbox messages and expired cache entries, and
keep the outbox backlog warning current."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_controller.log import get_logger
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.errors import StorageError
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.capacity import OutboxStats

log = get_logger("storage.housekeeping")


@dataclass(frozen=True, slots=True)
class HousekeepingResult:
    pruned_messages: int
    expired_cache_entries: int
    outbox: OutboxStats


class StorageHousekeeping:
    def __init__(
        self,
        outbox: Outbox,
        auth_store: AuthStore,
        *,
        retention_s: float,
        interval_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbox = outbox
        self._auth = auth_store
        self._retention_s = retention_s
        self._interval_s = interval_s
        self._clock = clock

    async def run_once(self) -> HousekeepingResult:
        pruned = await self._outbox.prune(self._retention_s)
        expired = await self._auth.cache_prune(self._clock())
        stats = await self._outbox.stats()
        log.info(
            "storage housekeeping",
            pruned_messages=pruned,
            expired_cache_entries=expired,
            pending=stats.pending,
            parked=stats.parked,
            near_capacity=stats.near_capacity,
        )
        return HousekeepingResult(pruned, expired, stats)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except StorageError as exc:
                log.error("storage housekeeping failed; retrying later", error=str(exc))
            await asyncio.sleep(self._interval_s)
