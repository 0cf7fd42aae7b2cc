"""Problem reports (schema v7, ``changed_by`` since v13): filed once per submission, then read,
acknowledged and resolved by operators."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from edge_controller.domain.problems import (
    FiledReport,
    Handling,
    ProblemHandled,
    ProblemKind,
    ProblemReport,
    ProblemReported,
    ProblemState,
    handled,
    next_state,
    reference,
)
from edge_controller.storage.database import Database
from edge_controller.storage.outbox.rows import append_in

Route = Callable[[str], str | None]  # a connector's uplink identity (None: not sent)
SITE_NOTE = "the fault has cleared"
_COLUMNS = (
    "number, submission_id, connector_id, kind, text, source, filed_at_s, state,"
    " changed_by, changed_at_s, note"
)


def _filed(
    row: sqlite3.Row | tuple[Any, ...], new: bool = False, history: tuple[Handling, ...] = ()
) -> FiledReport:
    number, submission, connector, kind, text, source, at_s, state, by, changed_s, note = row
    report = ProblemReport(connector, ProblemKind(kind), text, submission, source)
    # Resolved by the site's own fault watch: no one's name, no time (its history has it).
    last = history[-1].action if history else ""
    handling = None if by is None else Handling(by, changed_s, note or "", last)
    return FiledReport(
        number, reference(number), report, at_s, ProblemState(state), new, handling, history
    )


def _histories(conn: sqlite3.Connection, numbers: list[int]) -> dict[int, tuple[Handling, ...]]:
    """Every acknowledgement, resolution and note of reports ``numbers``, first first."""
    found: dict[int, list[Handling]] = {n: [] for n in numbers}
    marks = ",".join("?" * len(numbers))
    rows = conn.execute(
        f"SELECT number, changed_by, at_s, note, action FROM problem_notes"
        f" WHERE number IN ({marks}) ORDER BY id",
        numbers,
    ).fetchall()
    for number, by, at_s, note, action in rows:
        found[int(number)].append(Handling(by, at_s, note, action))
    return {n: tuple(h) for n, h in found.items()}


def _note(conn: sqlite3.Connection, number: int, handling: Handling) -> None:
    h = handling
    conn.execute(
        "INSERT INTO problem_notes (number, action, changed_by, at_s, note) VALUES (?, ?, ?, ?, ?)",
        (number, h.action, h.by, h.at_s, h.note),
    )


class ProblemStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def file(
        self, report: ProblemReport, at_s: float, identity: str | None = None
    ) -> FiledReport:
        """Store ``report`` (committed when this returns); a submission filed before is
        returned as it was, with ``new`` False. With an uplink ``identity``, a new report is
        queued for the CSMS in the same commit."""
        r = report

        def job(conn: sqlite3.Connection) -> FiledReport:
            select = f"SELECT {_COLUMNS} FROM problem_reports WHERE submission_id = ?"
            row = conn.execute(select, (r.submission_id,)).fetchone()
            if row is not None:
                return _filed(row)
            conn.execute(
                "INSERT INTO problem_reports"
                " (submission_id, connector_id, kind, text, source, filed_at_s)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (r.submission_id, r.connector_id, r.kind.value, r.text, r.source, at_s),
            )
            filed = _filed(conn.execute(select, (r.submission_id,)).fetchone(), new=True)
            if identity is not None:
                event = ProblemReported(
                    filed.reference, r.connector_id, r.kind, r.text, r.source, at_s
                )
                append_in(conn, identity, event, now_s=at_s)
            return filed

        return await self._db.write(job)

    async def recent(self, limit: int = 100, open_only: bool = False) -> list[FiledReport]:
        where = "WHERE state != 'resolved'" if open_only else ""

        def job(conn: sqlite3.Connection) -> list[FiledReport]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM problem_reports {where} ORDER BY number DESC LIMIT ?",
                (limit,),
            ).fetchall()
            histories = _histories(conn, [int(row[0]) for row in rows])
            return [_filed(row, history=histories[int(row[0])]) for row in rows]

        return await self._db.read(job)

    async def open_count(self) -> int:
        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) FROM problem_reports WHERE state != 'resolved'"
            ).fetchone()
            return int(row[0])

        return await self._db.read(job)

    async def open_by_submission_prefix(self, prefix: str) -> dict[str, int]:
        """The submission ids of reports not resolved whose id starts with ``prefix``, with
        their numbers."""

        def job(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT submission_id, number FROM problem_reports"
                " WHERE state != 'resolved' AND substr(submission_id, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchall()
            return {str(s): int(n) for s, n in rows}

        return await self._db.read(job)

    async def handle(
        self, number: int, wanted: str, handling: Handling, route: Route | None = None
    ) -> FiledReport | None:
        """Acknowledge, resolve or note on report ``number`` as ``handling`` says (committed
        when this returns; every one is kept); None: no such report; ChangeRefused: it does not
        apply. With a ``route`` that names the report's uplink identity, the change is queued
        for the CSMS in the same commit."""

        def job(conn: sqlite3.Connection) -> FiledReport | None:
            select = f"SELECT {_COLUMNS} FROM problem_reports WHERE number = ?"
            row = conn.execute(select, (number,)).fetchone()
            if row is None:
                return None
            state, note = next_state(ProblemState(row[7]), wanted, handling.note)
            done = Handling(handling.by, handling.at_s, note, wanted)
            conn.execute(
                "UPDATE problem_reports SET state = ?, changed_by = ?, changed_at_s = ?,"
                " note = ? WHERE number = ?",
                (state.value, done.by, done.at_s, note, number),
            )
            _note(conn, number, done)
            history = _histories(conn, [number])[number]
            filed = _filed(conn.execute(select, (number,)).fetchone(), history=history)
            _queue(conn, handled(filed), route)
            return filed

        return await self._db.write(job)

    async def resolve(
        self, numbers: list[int], at_s: float, route: Route | None = None
    ) -> list[ProblemHandled]:
        """Resolve the site's own reports whose faults have cleared (no one's name is
        stored); their resolutions, queued for the CSMS as ``handle`` does."""

        def job(conn: sqlite3.Connection) -> list[ProblemHandled]:
            done = []
            for number in numbers:
                row = conn.execute(
                    "UPDATE problem_reports SET state = 'resolved' WHERE number = ?"
                    " AND state != 'resolved' RETURNING connector_id",
                    (number,),
                ).fetchone()
                if row is None:
                    continue
                change = ProblemHandled(
                    reference(number), str(row[0]), ProblemState.RESOLVED, "site", SITE_NOTE, at_s,
                    ProblemState.RESOLVED.value,
                )  # fmt: skip
                _note(conn, number, Handling("site", at_s, SITE_NOTE, change.done))
                _queue(conn, change, route)
                done.append(change)
            return done

        return await self._db.write(job)


def _queue(conn: sqlite3.Connection, change: ProblemHandled, route: Route | None) -> None:
    identity = None if route is None else route(change.connector_id)
    if identity is not None:
        append_in(conn, identity, change, now_s=change.at_s)
