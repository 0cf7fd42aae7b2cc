"""The control loop's side of the status views for the feed tests: each connector's view as the
test sets it, a new snapshot (new view objects, the time moved on) whenever asked, as the site
controller makes them at each step."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, cast

from edge_controller.app.views import ConnectorViews, SiteViews
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.services.sessions.manager import SessionManager


class Snapshots:
    def __init__(self, connector_ids: Sequence[str], clock: Callable[[], float]) -> None:
        self.raw = {
            cid: ConnectorView(cid, Availability.AVAILABLE, 0.0, "no EV") for cid in connector_ids
        }
        self._clock = clock
        self._latest = self.snapshot()
        self._next: asyncio.Queue[SiteView] = asyncio.Queue()

    def set(self, connector_id: str, **fields: Any) -> None:
        """What the control loop shows of a connector from its next snapshot on."""
        self.raw[connector_id] = dataclasses.replace(self.raw[connector_id], **fields)

    def snapshot(self) -> SiteView:
        """A new snapshot of every connector as set, taken now."""
        at_s = self._clock()
        views = tuple(dataclasses.replace(v, at_s=at_s) for v in self.raw.values())
        self._latest = SiteView(
            "site1", (0.0, 0.0, 0.0), 32.0, (32.0, 32.0, 32.0), 0.5, views, at_s=at_s
        )
        return self._latest

    def publish(self) -> SiteView:
        """A new snapshot (``snapshot``), for whoever waits for the next one."""
        found = self.snapshot()
        self._next.put_nowait(found)
        return found

    async def next_snapshot(self) -> SiteView:
        return await self._next.get()


def site_views(snapshots: Snapshots, manager: SessionManager) -> SiteViews:
    """The daemon's views over the test's snapshots and a real session side."""
    site = cast(Any, snapshots)
    return SiteViews(site, ConnectorViews(site, manager))
