"""Security events parked on OCPP 1.6 by a release before 1.6 sent them go back in line at
the next start-up (the schema 16 step); what was parked for another reason stays parked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from structlog.testing import capture_logs

from edge_controller.domain.security import SecurityEventKind, SecurityEventRaised
from edge_controller.storage.database import Database
from edge_controller.storage.migrations import LATEST_VERSION, MIGRATIONS, migrate
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.parked_security import requeue_parked_security_events
from edge_controller.storage.outbox.rows import append_in
from tests.outbox_events import T0_S, started

STEP = MIGRATIONS.index(requeue_parked_security_events) + 1
# The reason the sender of those releases parked them with (NotSendable, prefixed).
OLD = "not sendable: security events are sent on OCPP 2.x connections only"
STARTUP = SecurityEventRaised(SecurityEventKind.STARTUP_OF_THE_DEVICE, T0_S, "")


def _park(conn: sqlite3.Connection, seq: int, error: str) -> None:
    conn.execute(
        "UPDATE outbox SET state = 'parked', attempts = 1, last_error = ? WHERE seq = ?",
        (error, seq),
    )


def _database_before_the_step(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(conn, target=STEP - 1)
        conn.execute(
            "INSERT INTO sessions (connector_id, id_tag, start_at_s, meter_start_wh,"
            " last_meter_wh, last_meter_at_s) VALUES ('cp:1', 'A', 10, 100, 100, 10)"
        )
        seqs = {
            "old_parked": append_in(conn, "cp", STARTUP, now_s=T0_S),
            "refused": append_in(conn, "cp", STARTUP, now_s=T0_S + 1),
            "start": append_in(conn, "cp", started(1, "cp:1", 100), now_s=T0_S + 2),
            "later": append_in(conn, "cp", STARTUP, now_s=T0_S + 3),
        }
        _park(conn, seqs["old_parked"], OLD)
        _park(conn, seqs["refused"], "the CSMS does not take it: CALLERROR NotImplemented")
        _park(conn, seqs["start"], OLD)  # not a security event: not this step's business
        return seqs
    finally:
        conn.close()


async def test_start_up_puts_the_old_parked_security_events_back_in_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge.db"
    seqs = _database_before_the_step(path)
    db = await Database.open(path)
    try:
        assert db.schema_version == LATEST_VERSION
        outbox = Outbox(db)
        parked = {m.seq for m in await outbox.parked()}
        assert parked == {seqs["refused"], seqs["start"]}
        first = await outbox.peek("cp")
        assert first is not None and first.seq == seqs["old_parked"]  # at its place, first
        assert first.event == STARTUP and first.attempts == 0
        assert await outbox.backlog("cp") == 2
    finally:
        await db.close()


def test_the_step_says_what_it_put_back(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    seqs = _database_before_the_step(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        with capture_logs() as logs:
            requeue_parked_security_events(conn)
            requeue_parked_security_events(conn)  # nothing left: nothing said
    finally:
        conn.close()
    said = [e for e in logs if "put back in line" in e["event"]]
    assert len(said) == 1
    assert said[0]["count"] == 1 and said[0]["seqs"] == [seqs["old_parked"]]
