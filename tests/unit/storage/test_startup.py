"""Opening the database at start: a missing or empty database that existed before is reported,
not replaced by an empty one; damage keeps one copy of the damaged files, however often the
daemon is started again."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.storage.database import Database
from edge_controller.storage.errors import DatabaseCorrupt, DatabaseMissing, marker_path
from edge_controller.storage.sessions_store import SessionStart, SessionStore


def remove_database(path: Path) -> None:
    """`rm edge.db*` (the hidden marker stays)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def corrupt_copies(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("edge.db.corrupt-*"))


async def recorded(path: Path) -> None:
    db = await Database.open(path)
    try:
        await SessionStore(db).start(SessionStart("cp:1", "TAG", 1.0, 100))
    finally:
        await db.close()


@pytest.mark.parametrize("how", ["removed", "emptied"])
async def test_a_database_that_existed_is_not_silently_replaced(tmp_path: Path, how: str) -> None:
    path = tmp_path / "edge.db"
    await recorded(path)
    remove_database(path)
    if how == "emptied":
        path.write_bytes(b"")
    with pytest.raises(DatabaseMissing) as info:
        await Database.open(path)
    text = str(info.value)
    assert ("is missing" if how == "removed" else "is empty (0 bytes)") in text
    assert str(marker_path(path)) in text and "edge-controller backup" in text
    assert corrupt_copies(tmp_path) == []
    if how == "emptied":
        assert path.read_bytes() == b""  # left as found
    marker_path(path).unlink()  # the operator's decision: start with an empty database
    db = await Database.open(path)
    try:
        assert await SessionStore(db).open_sessions() == []
    finally:
        await db.close()
    assert marker_path(path).exists()


async def test_a_new_or_empty_database_without_a_marker_is_just_created(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    path.write_bytes(b"")  # e.g. created by an installer's script
    db = await Database.open(path)
    await db.close()
    assert marker_path(path).exists() and path.stat().st_size > 0


async def test_damage_keeps_one_copy_however_often_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    await recorded(path)
    path.write_bytes(b"this is not a database" * 200)
    copies = []
    for _ in range(3):  # systemd restarting a daemon in a loop
        with pytest.raises(DatabaseCorrupt) as info:
            await Database.open(path)
        copies.append(info.value.preserved_copy)
    assert copies[0] is not None and copies == [copies[0]] * 3
    assert corrupt_copies(tmp_path) == [copies[0].name]
    assert copies[0].read_bytes() == path.read_bytes()
    assert "Restore a backup" in str(info.value)
