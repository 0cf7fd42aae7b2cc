from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.errors import (
    DatabaseCorrupt,
    SchemaTooNew,
    StateDirUnusable,
)
from edge_controller.storage.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    PLUG_IDENTITY,
    migrate,
    schema_version,
)
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.rows import append_in
from edge_controller.storage.sessions_store import SessionStore
from tests.outbox_events import sampled, started

TYPED_AUTH_VERSION = 1 + next(i for i, s in enumerate(MIGRATIONS) if "local_list_typed" in str(s))


def _make_at_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(conn, target=version) == version
        if version >= 1:
            conn.execute(
                "INSERT INTO sessions (connector_id, id_tag, start_at_s, meter_start_wh,"
                " last_meter_wh, last_meter_at_s) VALUES ('cp:1', 'OLD', 10, 100, 150, 20)"
            )
            start = (
                '{"connectorId":"cp:1","idTag":"OLD","meterStart":100,'
                '"timestamp":"2026-11-27T00:00:00.000Z"}'
            )
            if version >= 8:  # the outbox keeps events from version 8 on
                append_in(conn, "cp", started(1, "cp:1", 100), now_s=10)
                return
            conn.execute(
                "INSERT INTO outbox (identity, action, payload, kind, session_local_id,"
                " created_at_s) VALUES ('cp', 'StartTransaction', ?, 'start', 1, 10)",
                (start,),
            )
    finally:
        conn.close()


@pytest.mark.parametrize("start_version", range(LATEST_VERSION))
async def test_upgrades_from_every_earlier_version(tmp_path: Path, start_version: int) -> None:
    path = tmp_path / "edge.db"
    _make_at_version(path, start_version)
    db = await Database.open(path)
    try:
        assert db.schema_version == LATEST_VERSION
        sessions = await SessionStore(db).open_sessions()
        if start_version >= 1:
            (old,) = sessions
            assert old.id_tag == "OLD" and old.last_meter_wh == 150
            assert not old.authorized_offline
            assert await Outbox(db).backlog() == 1
        else:
            assert sessions == []
    finally:
        await db.close()


async def test_version_5_drops_the_unused_config_tables_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge.db"
    _make_at_version(path, 4)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO config_values VALUES ('HeartbeatInterval', '300', 1)")
    conn.execute("INSERT INTO connector_availability VALUES ('cp:1', 0, 1)")
    conn.execute("INSERT INTO reservations VALUES (7, 'cp:2', 'TAG', NULL, 900, 10)")
    conn.close()
    db = await Database.open(path)
    try:
        assert db.schema_version == LATEST_VERSION  # 5 and every step after it

        def tables(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {str(r[0]) for r in rows}

        found = await db.read(tables)
        assert "config_values" not in found and "connector_availability" not in found
        assert {"sessions", "outbox", "local_list", "auth_cache", "reservations"} <= found
        (old,) = await SessionStore(db).open_sessions()
        assert old.id_tag == "OLD" and old.last_meter_wh == 150
        assert await Outbox(db).backlog() == 1

        def reservation(conn: sqlite3.Connection) -> tuple[str, str]:
            row = conn.execute("SELECT connector_id, id_tag FROM reservations").fetchone()
            return str(row[0]), str(row[1])

        assert await db.read(reservation) == ("cp:2", "TAG")
    finally:
        await db.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        await Database.open(path)


def test_failed_step_leaves_previous_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "edge.db", isolation_level=None)
    try:
        migrate(conn, target=1)
        conn.execute("CREATE TABLE local_list (x INTEGER)")  # makes step 2 fail
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn)
        assert schema_version(conn) == 1
        assert not conn.in_transaction
    finally:
        conn.close()


async def test_garbage_file_is_preserved_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseCorrupt) as info:
        await Database.open(path)
    copy = info.value.preserved_copy
    assert copy is not None and copy.read_bytes() == path.read_bytes()
    assert str(path) in str(info.value)


async def test_damaged_pages_fail_the_integrity_check(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    outbox = Outbox(db)
    for i in range(300):
        await outbox.append("cp", sampled(None, i, "x" * 200))
    await db.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, len(data) - page, page):
        data[offset + 8 : offset + 200] = b"\xff" * 192  # clobber b-tree page headers
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorrupt) as info:
        await Database.open(path)
    assert info.value.preserved_copy is not None and info.value.preserved_copy.exists()


async def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateDirUnusable, match=f"{blocker} is a file, not a directory"):
        await Database.open(blocker / "state" / "edge.db")


async def test_version_6_adds_tariffs_and_costs_and_old_sessions_have_no_tariff(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge.db"
    _make_at_version(path, 5)
    db = await Database.open(path)
    try:
        (old,) = await SessionStore(db).open_sessions()
        assert old.id_tag == "OLD" and old.tariff is None
        assert await SessionStore(db).cost(old.local_id) is None

        def tables(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {str(r[0]) for r in rows}

        found = await db.read(tables)
        assert {"tariffs", "tariff_assignments", "tariff_changes", "session_costs"} <= found
    finally:
        await db.close()


async def test_typed_auth_entries_keep_every_list_and_cache_entry_untyped(
    tmp_path: Path,
) -> None:
    """The version that types list and cache entries (OCPP 2.x: a token is its type and
    value) keeps what was stored before, untyped: it still matches cards, never a key code."""
    path = tmp_path / "edge.db"
    before = TYPED_AUTH_VERSION - 1
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(conn, target=before) == before
        conn.execute("INSERT INTO local_list VALUES ('04A2B3C4', 'Accepted', 99.5, 'FLEET')")
        conn.execute("INSERT INTO local_list VALUES ('1234', 'Blocked', NULL, NULL)")
        conn.execute("INSERT INTO auth_cache VALUES ('CAFE', 'Accepted', 50.0, NULL, 7.0)")
        conn.execute("INSERT INTO local_list_version VALUES (1, 12)")
    finally:
        conn.close()
    db = await Database.open(path)
    try:
        store = AuthStore(db)
        assert await store.local_list() == [
            AuthEntry("04A2B3C4", AuthStatus.ACCEPTED, 99.5, "FLEET"),
            AuthEntry("1234", AuthStatus.BLOCKED),
        ]
        assert await store.local_list_version() == 12
        assert await store.cached("cafe") == AuthEntry("CAFE", AuthStatus.ACCEPTED, 50.0)
        assert await store.local_entry("1234", key_code=True) is None
        # Typed entries of the same value can now be added beside the old ones.
        code = AuthEntry("1234", AuthStatus.ACCEPTED, token_type="KeyCode")
        await store.update_local_list(13, [code])
        assert await store.local_entry("1234", key_code=True) == code
        assert await store.local_entry("1234") == AuthEntry("1234", AuthStatus.BLOCKED)
    finally:
        await db.close()


async def test_open_plug_transactions_take_their_identity_from_their_kept_events(
    tmp_path: Path,
) -> None:
    """The version that keeps a transaction's identity with it fills it in for those still
    open from their events in the outbox; a closed one needs none."""
    path = tmp_path / "edge.db"
    version = 1 + MIGRATIONS.index(PLUG_IDENTITY)
    _make_at_version(path, version - 1)  # session 1's Started queued for "cp"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            "INSERT INTO plug_transactions (local_id, connector_id, plugged_at_s) VALUES"
            " (1, 'cp:1', 10), (7, 'cp:2', 12), (8, 'cp:3', 13)"
        )
        conn.execute("UPDATE plug_transactions SET closed_at_s = 20 WHERE local_id = 8")
        append_in(conn, "other", started(8, "cp:3", 0), now_s=13)
        assert migrate(conn) == LATEST_VERSION
        rows = conn.execute("SELECT local_id, identity FROM plug_transactions ORDER BY 1")
        assert rows.fetchall() == [(1, "cp"), (7, None), (8, None)]
    finally:
        conn.close()
