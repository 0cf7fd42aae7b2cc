"""The status relay: a channel that hands charger statuses from the control loop to a slower
consumer (the session side) without ever blocking the loop. Created before both.

Overflow policy: the latest status per connector wins; a consumer that falls behind skips
intermediate statuses of a connector, never a connector.
"""

from __future__ import annotations

import asyncio

from edge_controller.domain.model import ChargerStatus


class StatusRelay:
    def __init__(self) -> None:
        self._latest: dict[str, ChargerStatus] = {}
        self._ready = asyncio.Event()

    def push(self, connector_id: str, status: ChargerStatus) -> None:
        """Called from the control loop: O(1), never blocks."""
        self._latest[connector_id] = status
        self._ready.set()

    async def next_batch(self) -> dict[str, ChargerStatus]:
        """The latest status of every connector that changed since the last batch (waits for
        one)."""
        await self._ready.wait()
        self._ready.clear()
        batch, self._latest = self._latest, {}
        return batch
