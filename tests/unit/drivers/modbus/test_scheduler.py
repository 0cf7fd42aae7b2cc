"""The bus queue: urgent first, routine reads round-robin by device, bounded."""

from __future__ import annotations

import pytest

from edge_controller.drivers.modbus.scheduler import QueueFull, RequestQueue


def _drain(queue: RequestQueue[str]) -> list[str]:
    out = []
    while (item := queue.pop()) is not None:
        out.append(item)
    return out


def test_urgent_requests_overtake_routine_ones() -> None:
    queue: RequestQueue[str] = RequestQueue()
    queue.put("c1", "c1-read", urgent=False)
    queue.put("grid", "grid-read", urgent=True)
    queue.put("c1", "c1-write", urgent=True)
    assert _drain(queue) == ["grid-read", "c1-write", "c1-read"]


def test_routine_reads_rotate_between_devices() -> None:
    queue: RequestQueue[str] = RequestQueue()
    for n in range(3):
        queue.put("c1", f"c1-{n}", urgent=False)
    for n in range(2):
        queue.put("c2", f"c2-{n}", urgent=False)
    queue.put("c3", "c3-0", urgent=False)
    assert _drain(queue) == ["c1-0", "c2-0", "c3-0", "c1-1", "c2-1", "c1-2"]


def test_under_overload_the_grid_meter_is_never_round_robined() -> None:
    queue: RequestQueue[str] = RequestQueue(routine_capacity=100)
    for n in range(50):
        queue.put(f"c{n % 5}", f"c{n % 5}-{n}", urgent=False)
    served = [queue.pop() for _ in range(3)]
    queue.put("grid", "grid-read", urgent=True)
    assert queue.pop() == "grid-read"
    assert all(item is not None and item.startswith("c") for item in served)


def test_full_queue_rejects_new_requests() -> None:
    queue: RequestQueue[str] = RequestQueue(urgent_capacity=1, routine_capacity=1)
    queue.put("c1", "a", urgent=False)
    with pytest.raises(QueueFull):
        queue.put("c1", "b", urgent=False)
    queue.put("c2", "c", urgent=False)  # another device still has room
    queue.put("g", "u1", urgent=True)
    with pytest.raises(QueueFull):
        queue.put("g", "u2", urgent=True)
    assert len(queue) == 3
    assert sorted(queue.drain()) == ["a", "c", "u1"]
    assert queue.pop() is None
