"""Problem reports: stored once per submission, durable, listed newest first; every
acknowledgement, resolution and note kept."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from edge_controller.domain.problems import (
    ChangeRefused,
    Handling,
    ProblemKind,
    ProblemReport,
    ProblemState,
)
from edge_controller.storage import migrations
from edge_controller.storage.database import Database
from edge_controller.storage.migrations import migrate
from edge_controller.storage.problems_store import ProblemStore


def report(submission: str, kind: ProblemKind = ProblemKind.CABLE) -> ProblemReport:
    return ProblemReport("wb1:1", kind, "plug is loose", submission)


async def test_a_submission_is_filed_once_and_answered_with_the_same_reference(
    db: Database,
) -> None:
    store = ProblemStore(db)
    first = await store.file(report("s-1"), 1000.0)
    again = await store.file(report("s-1", ProblemKind.OTHER), 1001.0)
    other = await store.file(report("s-2"), 1002.0)
    assert (first.reference, first.new) == ("P-000001", True)
    assert (again.reference, again.new, again.report.kind, again.filed_at_s) == (
        "P-000001", False, ProblemKind.CABLE, 1000.0,
    )  # fmt: skip
    assert other.reference == "P-000002"
    listed = await store.recent(10)
    assert [r.reference for r in listed] == ["P-000002", "P-000001"]
    assert all(r.state is ProblemState.OPEN for r in listed)
    assert await store.open_count() == 2


async def test_a_filed_report_survives_reopening(db: Database) -> None:
    store = ProblemStore(db)
    await store.file(report("s-1"), 1000.0)
    path = db.path
    await db.close()
    reopened = await Database.open(path)
    try:
        (found,) = await ProblemStore(reopened).recent(10)
        assert (found.reference, found.report.text, found.report.connector_id) == (
            "P-000001", "plug is loose", "wb1:1",
        )  # fmt: skip
    finally:
        await reopened.close()


async def test_every_acknowledgement_note_and_resolution_is_kept_and_queued(
    db: Database,
) -> None:
    store = ProblemStore(db)
    number = (await store.file(report("s-1"), 1000.0)).number
    steps = (
        ("acknowledged", "ops", 1100.0, "Technician booked"),
        ("noted", "viv", 1200.0, "Driver called\nagain"),
        ("resolved", "ops", 1300.0, "Cable replaced"),
        ("noted", "ops", 1400.0, "Invoice sent"),  # a resolved report still takes notes
    )
    for action, by, at_s, note in steps:
        done = await store.handle(number, action, Handling(by, at_s, note), lambda _c: "site")
        assert done is not None and done.handling is not None
        assert done.handling.action == action
    (found,) = await store.recent(10)
    assert found.state is ProblemState.RESOLVED
    assert [(h.action, h.by, h.at_s, h.note) for h in found.history] == [
        ("acknowledged", "ops", 1100.0, "Technician booked"),
        ("noted", "viv", 1200.0, "Driver called again"),  # cleaned as every note is
        ("resolved", "ops", 1300.0, "Cable replaced"),
        ("noted", "ops", 1400.0, "Invoice sent"),
    ]  # nothing overwritten: the row shows the last one, the history every one
    assert found.handling == found.history[-1]
    with pytest.raises(ChangeRefused, match="needs words"):
        await store.handle(number, "noted", Handling("ops", 1500.0, " \n "))
    queued = await db.read(
        lambda conn: conn.execute("SELECT event, body FROM outbox ORDER BY seq").fetchall()
    )
    assert [json.loads(body)["action"] for _, body in queued] == [a for a, *_ in steps]


async def test_the_last_handling_of_each_report_is_kept_when_notes_start(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    conn = sqlite3.connect(path, isolation_level=None)
    # The step before notes were kept (later steps may follow it).
    migrate(conn, target=migrations.MIGRATIONS.index(migrations._PROBLEM_NOTES))
    conn.executescript(
        "INSERT INTO problem_reports (submission_id, connector_id, kind, text, source,"
        " filed_at_s, state, changed_by, changed_at_s, note) VALUES"
        " ('a', 'wb1:1', 'cable', '', 'driver', 10, 'acknowledged', 'ops', 20, 'booked'),"
        " ('b', 'wb1:1', 'cable', '', 'driver', 11, 'open', NULL, NULL, NULL),"
        " ('c', 'wb1:1', 'other', 'fault', 'site', 12, 'resolved', NULL, NULL, NULL);"
    )
    conn.close()
    db = await Database.open(path)
    try:
        found = {f.reference: f for f in await ProblemStore(db).recent(10)}
        assert [(h.action, h.by, h.at_s, h.note) for h in found["P-000001"].history] == [
            ("acknowledged", "ops", 20.0, "booked")
        ]
        assert found["P-000002"].history == () and found["P-000003"].history == ()
    finally:
        await db.close()
