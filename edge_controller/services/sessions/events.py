"""Session started/stopped notifications for status surfaces (MQTT), through bounded queues."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from edge_controller.log import get_logger
from edge_controller.storage.sessions_store import PricedCost

log = get_logger("sessions.events")


EventKind = Literal["started", "stopped"]


@dataclass(frozen=True, slots=True)
class SessionEvent:
    kind: EventKind
    connector_id: str
    local_id: int
    id_tag: str
    at_s: float
    meter_wh: int
    energy_wh: int = 0
    reason: str | None = None
    cost: PricedCost | None = None  # the final cost of a stopped, priced session


class SessionEvents:
    """Fan-out to subscribers. Overflow policy: a full queue drops its oldest event, so a slow
    consumer never blocks sessions and always sees the latest ones."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[SessionEvent]] = []
        self.dropped = 0

    def subscribe(self, maxsize: int = 100) -> asyncio.Queue[SessionEvent]:
        queue: asyncio.Queue[SessionEvent] = asyncio.Queue(maxsize=maxsize)
        self._queues.append(queue)
        return queue

    def publish(self, event: SessionEvent) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
                log.warning("session event subscriber too slow; dropped oldest event")
            queue.put_nowait(event)
