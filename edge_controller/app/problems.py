"""Problem reports in the site: stored with their outbox event for the CSMS in one commit, then
told to MQTT and the uplink woken; so is every acknowledgement and resolution."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_controller.domain.problems import (
    FiledReport,
    Handling,
    ProblemHandled,
    ProblemReport,
    handled,
)
from edge_controller.domain.site_faults import GATEWAY_SUBJECT
from edge_controller.log import get_logger
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.telemetry import ProblemNotice

if TYPE_CHECKING:
    from edge_controller.uplink.topology import Topology

log = get_logger("problems")


def station_route(topology: Topology) -> Callable[[str], str | None]:
    """A report's uplink identity: its connector's; a gateway fault's (filed on no connector)
    the first identity's, whose charge point reports the gateway faults (``OcppUplink``)."""
    first = topology.identities[0] if topology.identities else None

    def route(connector_id: str) -> str | None:
        if connector_id == GATEWAY_SUBJECT:
            return first
        return topology.route(connector_id)

    return route


@dataclass(frozen=True, slots=True)
class UplinkRoute:
    """Which uplink identity serves a connector, and how to wake the uplink's sender."""

    route: Callable[[str], str | None]
    notify: Callable[[], None]


class ProblemDesk:
    """Files a report durably, then publishes it once (a repeated submission is not told
    again); acknowledgements and resolutions alike."""

    def __init__(
        self,
        store: ProblemStore,
        publish: Callable[[ProblemNotice | ProblemHandled], None] | None,
        uplink: UplinkRoute | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._publish, self._clock = store, publish, clock
        self._uplink = uplink

    async def file(self, report: ProblemReport) -> FiledReport:
        identity = self._uplink.route(report.connector_id) if self._uplink else None
        filed = await self._store.file(report, self._clock(), identity)
        if not filed.new:
            return filed
        if self._uplink is not None and identity is not None:
            self._uplink.notify()
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

    async def handle(self, number: int, wanted: str, by: str, note: str) -> FiledReport | None:
        """Acknowledge, resolve or note on a report (ChangeRefused: it does not apply; None: no
        such report)."""
        route = self._uplink.route if self._uplink is not None else None
        done = await self._store.handle(number, wanted, Handling(by, self._clock(), note), route)
        if done is not None:
            log.info(
                "problem report handled", reference=done.reference, state=done.state.value, by=by,
            )  # fmt: skip
            self._tell(handled(done))
        return done

    async def resolve_faults(self, numbers: list[int]) -> None:
        """Resolve the site's own reports whose faults have cleared."""
        route = self._uplink.route if self._uplink is not None else None
        for change in await self._store.resolve(numbers, self._clock(), route):
            self._tell(change)

    def _tell(self, change: ProblemHandled) -> None:
        """A stored change, on MQTT, and the uplink woken when it was queued for the CSMS."""
        if self._uplink is not None and self._uplink.route(change.connector_id) is not None:
            self._uplink.notify()
        if self._publish is not None:
            self._publish(change)

    async def open_count(self) -> int:
        return await self._store.open_count()
