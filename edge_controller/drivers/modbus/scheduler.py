"""The request queue of one half-duplex bus: priorities first, then round-robin by device.

Pure data structure (no I/O, no clock). Urgent requests (grid-meter reads, setpoint writes) are
served first in arrival order. Routine reads are served one device at a time in rotation, so when
the bus cannot keep up every charger still gets its turn and none starves another.
Overflow policy: a full queue rejects the new request (the caller gets an error at once and
polls again next interval) instead of growing without bound.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

URGENT_CAPACITY = 64
ROUTINE_CAPACITY_PER_DEVICE = 16  # a multi-connector device polls every connector


class QueueFull(Exception):
    """The bus queue has no room for another request."""


@dataclass
class RequestQueue(Generic[T]):
    urgent_capacity: int = URGENT_CAPACITY
    routine_capacity: int = ROUTINE_CAPACITY_PER_DEVICE
    _urgent: deque[T] = field(default_factory=deque)
    _routine: dict[str, deque[T]] = field(default_factory=dict)
    _rotation: deque[str] = field(default_factory=deque)

    def __len__(self) -> int:
        return len(self._urgent) + sum(len(q) for q in self._routine.values())

    @property
    def empty(self) -> bool:
        return not self._urgent and not self._rotation

    def put(self, device_id: str, item: T, urgent: bool) -> None:
        if urgent:
            if len(self._urgent) >= self.urgent_capacity:
                raise QueueFull("urgent queue full")
            self._urgent.append(item)
            return
        queue = self._routine.setdefault(device_id, deque())
        if len(queue) >= self.routine_capacity:
            raise QueueFull(f"routine queue of {device_id} full")
        if not queue:
            self._rotation.append(device_id)
        queue.append(item)

    def pop(self) -> T | None:
        """Next request to run, or None when empty."""
        if self._urgent:
            return self._urgent.popleft()
        if not self._rotation:
            return None
        device_id = self._rotation.popleft()
        queue = self._routine[device_id]
        item = queue.popleft()
        if queue:
            self._rotation.append(device_id)  # its next request waits for the others' turn
        return item

    def drain(self) -> list[T]:
        """Remove and return everything (on shutdown)."""
        items = list(self._urgent)
        self._urgent.clear()
        for queue in self._routine.values():
            items.extend(queue)
            queue.clear()
        self._rotation.clear()
        return items
