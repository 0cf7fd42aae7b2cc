"""Problem reports: stored once per submission, durable, listed newest first."""

from __future__ import annotations

from edge_controller.domain.problems import ProblemKind, ProblemReport, ProblemState
from edge_controller.storage.database import Database
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
