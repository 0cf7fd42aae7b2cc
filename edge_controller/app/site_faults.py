"""Watches the site's views for faults it sees by itself and files them as problem reports
(once per fault, resolved when it clears), through the same desk as drivers' reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from edge_controller.app.problems import ProblemDesk
from edge_controller.domain import site_faults
from edge_controller.domain.problems import ProblemKind, ProblemReport
from edge_controller.domain.snapshot import SiteView
from edge_controller.log import get_logger
from edge_controller.storage.problems_store import ProblemStore

log = get_logger("site_faults")


class FaultWatch:
    def __init__(
        self,
        desk: ProblemDesk,
        store: ProblemStore,
        next_view: Callable[[], Awaitable[SiteView]],
        unavailable_after_s: float,
    ) -> None:
        self._desk, self._store, self._next_view = desk, store, next_view
        self._after_s = unavailable_after_s
        self._silent_since: dict[str, float] = {}
        self._open: dict[str, int] | None = None  # fault key -> open report number

    async def _load_open(self) -> dict[str, int]:
        """The reports left open by the last run (a restart during a fault raises no other)."""
        found = await self._store.open_by_submission_prefix(site_faults.FAULT_SUBMISSION_PREFIX)
        return {
            key: number
            for submission, number in found.items()
            if (key := site_faults.fault_key(submission)) is not None
        }

    async def run(self) -> None:
        while True:
            await self.step(await self._next_view())

    async def step(self, view: SiteView) -> None:
        self._silent_since = site_faults.down_since(view, self._silent_since)
        faults = site_faults.observe(view, self._silent_since, self._after_s)
        if self._open is None:
            self._open = await self._load_open()
        open_reports = self._open
        todo = site_faults.steps(faults, frozenset(open_reports))
        for fault in todo.raise_:
            submission = site_faults.submission_id(fault.key, view.at_s)
            report = ProblemReport(
                fault.connector_id, ProblemKind.OTHER, fault.text, submission,
                site_faults.SITE_SOURCE,
            )  # fmt: skip
            open_reports[fault.key] = (await self._desk.file(report)).number
        if todo.resolve:
            await self._desk.resolve_faults([open_reports.pop(key) for key in todo.resolve])
            log.info("site faults cleared", keys=list(todo.resolve))
