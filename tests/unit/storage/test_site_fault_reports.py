"""Faults the site sees itself, filed through the problem desk into a real database: one report
per fault with its outbox row and one notice, none again after a restart, resolved on clearing
(the resolution told and queued for the CSMS like the report)."""

from __future__ import annotations

from typing import Any

from edge_controller.app.problems import ProblemDesk, UplinkRoute
from edge_controller.app.site_faults import FaultWatch
from edge_controller.domain.problems import ProblemHandled, ProblemState
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.storage.database import Database
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.telemetry import ProblemNotice


def view(at_s: float, faulted: bool, meter_up: bool) -> SiteView:
    state = Availability.FAULTED if faulted else Availability.AVAILABLE
    connector = ConnectorView("wb1:1", state, 0.0, "", fault_text="CP state F" if faulted else None)
    devices = (
        DeviceView("wb1", True, last_success_s=at_s),
        DeviceView("meter", meter_up, last_success_s=100.0),
    )
    return SiteView("s", None, 32.0, None, None, (connector,), devices, at_s=at_s)


Notices = list[ProblemNotice | ProblemHandled]


def watch(db: Database, notices: Notices) -> FaultWatch:
    store = ProblemStore(db)
    desk = ProblemDesk(store, notices.append, UplinkRoute(lambda _c: "site", lambda: None))

    async def no_views() -> SiteView:
        raise AssertionError("views are given by the test")

    return FaultWatch(desk, store, no_views, unavailable_after_s=60.0)


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return await db.read(lambda conn: [tuple(r) for r in conn.execute(sql).fetchall()])


async def states(db: Database) -> list[str]:
    found = await rows(db, "SELECT state FROM problem_reports ORDER BY number")
    return [str(r[0]) for r in found]


async def test_each_fault_is_reported_once_and_resolved_when_it_clears(db: Database) -> None:
    notices: Notices = []
    first = watch(db, notices)
    for at_s in (120.0, 150.0, 160.0, 161.0):
        await first.step(view(at_s, faulted=True, meter_up=False))
    assert [
        (n.connector_id, n.kind, n.text, n.source) for n in notices if isinstance(n, ProblemNotice)
    ] == [
        ("wb1:1", "other", "charger fault: CP state F", "site"),
        ("meter", "other", "device meter has not answered for 60 s", "site"),
    ]
    outbox = await rows(db, "SELECT identity, event FROM outbox ORDER BY seq")
    assert outbox == [("site", "problem_reported")] * 2

    restarted = watch(db, notices)  # the daemon restarts while both faults last
    await restarted.step(view(200.0, faulted=True, meter_up=False))
    assert len(notices) == 2 and await states(db) == ["open", "open"]

    await restarted.step(view(210.0, faulted=False, meter_up=True))
    assert await states(db) == ["resolved", "resolved"]
    resolved = [n for n in notices if isinstance(n, ProblemHandled)]
    assert [(n.reference, n.connector_id, n.state, n.by) for n in resolved] == [
        ("P-000001", "wb1:1", ProblemState.RESOLVED, "site"),
        ("P-000002", "meter", ProblemState.RESOLVED, "site"),
    ]
    outbox = await rows(db, "SELECT event FROM outbox ORDER BY seq")
    assert outbox == [("problem_reported",)] * 2 + [("problem_handled",)] * 2
    await restarted.step(view(220.0, faulted=True, meter_up=True))  # the fault comes back
    assert len(notices) == 5
    assert await states(db) == ["resolved", "resolved", "open"]
