"""Hands charger statuses from the control loop to a slower consumer without ever blocking it.

Overflow policy: the latest status per connector wins; a consumer that falls behind skips
intermediate statuses of a connector, never a connector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from edge_controller.domain.model import ChargerStatus


class StatusRelay:
    def __init__(self, consume: Callable[[str, ChargerStatus], Awaitable[None]]) -> None:
        self._consume = consume
        self._latest: dict[str, ChargerStatus] = {}
        self._ready = asyncio.Event()

    def push(self, connector_id: str, status: ChargerStatus) -> None:
        """Called from the control loop: O(1), never blocks."""
        self._latest[connector_id] = status
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._latest = self._latest, {}
            for connector_id, status in batch.items():
                await self._consume(connector_id, status)
