"""Problem reports in the site: stored first, then told to MQTT (the CSMS part waits for the
version-neutral outbox)."""

from __future__ import annotations

import time
from collections.abc import Callable

from edge_controller.domain.problems import FiledReport, ProblemReport
from edge_controller.log import get_logger
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.telemetry import ProblemNotice

log = get_logger("problems")


class ProblemDesk:
    """Files a report durably, then publishes it once (a repeated submission is not told
    again)."""

    def __init__(
        self,
        store: ProblemStore,
        publish: Callable[[ProblemNotice], None] | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._publish, self._clock = store, publish, clock

    async def file(self, report: ProblemReport) -> FiledReport:
        filed = await self._store.file(report, self._clock())
        if not filed.new:
            return filed
        log.info(
            "problem reported", reference=filed.reference, connector_id=report.connector_id,
            kind=report.kind.value, source=report.source,
        )  # fmt: skip
        if self._publish is not None:
            r = report
            notice = ProblemNotice(
                filed.reference, r.connector_id, r.kind.value, r.text, r.source, filed.filed_at_s
            )
            self._publish(notice)
        return filed

    async def recent(self, limit: int, open_only: bool) -> list[FiledReport]:
        return await self._store.recent(limit, open_only)

    async def open_count(self) -> int:
        return await self._store.open_count()
