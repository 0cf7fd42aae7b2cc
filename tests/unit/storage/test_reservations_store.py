"""The reservation table: put replaces by id and by connector, remove says if it found one."""

from __future__ import annotations

from pathlib import Path

from edge_controller.domain.sessions.reservations import Reservation
from edge_controller.storage.database import Database
from edge_controller.storage.reservations_store import ReservationStore


async def test_put_replaces_and_remove_reports(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "edge.db")
    try:
        store = ReservationStore(db)
        await store.put(Reservation(1, "cp1:1", "AA", 100.0, "FLEET"), 0.0)
        await store.put(Reservation(2, "cp1:2", "BB", 200.0), 0.0)
        await store.put(Reservation(1, "cp1:3", "AA", 150.0), 1.0)  # same id: moved
        await store.put(Reservation(3, "cp1:2", "CC", 300.0), 1.0)  # same connector: replaced
        assert await store.all() == [
            Reservation(1, "cp1:3", "AA", 150.0, None),
            Reservation(3, "cp1:2", "CC", 300.0, None),
        ]
        assert await store.remove(3) is True
        assert await store.remove(3) is False
        assert [r.reservation_id for r in await store.all()] == [1]
    finally:
        await db.close()
