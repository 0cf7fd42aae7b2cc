"""The uplink's status watch looks at every connected identity's status from one task and has
a connection report only when what its report is made of changed: an idle identity's
connection is not woken, a change (a connector's state, an inoperative connector) is reported
once, and a change during a report is reported after it."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.pacing import StatusWatch
from edge_controller.uplink.ports import states_among
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.topology import Topology


class _Site:
    def __init__(self) -> None:
        self.views = {"cp1:1": ConnectorView("cp1:1", Availability.AVAILABLE, 0.0, "")}
        self.asked_views = 0

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        self.asked_views += 1
        return [self.views[c] for c in connector_ids if c in self.views]

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return states_among(self.views.values(), connector_ids)


def _link(tmp_path: Path, site: _Site) -> IdentityLink:
    link = SimpleNamespace(
        identity="cp1",
        topology=Topology("per_charger", "site", {"cp1": 1}),
        config=OcppStateFile(tmp_path / "ocpp-cp1.json", {}),
        status=site,
        cost_watches={},
        station_faults=None,
    )
    return cast(IdentityLink, link)


async def _settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_idle_connection_reports_nothing_and_a_change_once(tmp_path: Path) -> None:
    site = _Site()
    link = _link(tmp_path, site)
    reported: list[list[ConnectorState]] = []

    async def report() -> None:
        reported.append(list(site.states_of(["cp1:1"])))

    watch = StatusWatch(1.0)
    async with asyncio.TaskGroup() as group:
        with watch.watching(link, report, group):
            watch.look()  # the first look reports what changed during the first report
            await _settled()
            for _ in range(5):  # idle seconds
                watch.look()
                await _settled()
            assert len(reported) == 1
            site.views["cp1:1"] = ConnectorView(
                "cp1:1", Availability.CHARGING, 16.0, "", session_id="3"
            )
            watch.look()
            await _settled()
            watch.look()
            await _settled()
            link.config.set_operative(0, False)  # ChangeAvailability of the whole station
            watch.look()
            await _settled()
    charging = ConnectorState("cp1:1", Availability.CHARGING, "3")
    assert reported == [[ConnectorState("cp1:1", Availability.AVAILABLE)], [charging], [charging]]
    assert site.asked_views == 0  # no whole view was joined for it


async def test_a_change_during_a_report_is_reported_after_it(tmp_path: Path) -> None:
    site = _Site()
    link = _link(tmp_path, site)
    reported: list[Availability] = []
    release = asyncio.Event()

    async def report() -> None:
        reported.append(site.views["cp1:1"].availability)
        await release.wait()  # a StatusNotification the CSMS takes its time to answer

    watch = StatusWatch(1.0)
    async with asyncio.TaskGroup() as group:
        with watch.watching(link, report, group):
            watch.look()
            await _settled()
            site.views["cp1:1"] = ConnectorView("cp1:1", Availability.PREPARING, 0.0, "")
            watch.look()  # under way: once more after it, not beside it
            await _settled()
            assert reported == [Availability.AVAILABLE]
            release.set()
            await _settled()
    assert reported == [Availability.AVAILABLE, Availability.PREPARING]


async def test_a_connection_no_longer_watched_is_not_reported(tmp_path: Path) -> None:
    site = _Site()
    link = _link(tmp_path, site)
    calls: list[Any] = []

    async def report() -> None:
        calls.append(None)

    watch = StatusWatch(1.0)
    async with asyncio.TaskGroup() as group:
        with watch.watching(link, report, group):
            pass
        watch.look()
        await _settled()
    assert calls == []


class _Lost(Exception):
    """The connection ends."""


async def test_a_connection_ending_meanwhile_does_not_stop_the_watch(tmp_path: Path) -> None:
    """Its group is ending before its watching is left: the look passes it by."""
    site = _Site()
    link = _link(tmp_path, site)

    async def report() -> None:
        raise AssertionError("nothing is reported on a connection that ends")

    async def lose() -> None:
        raise _Lost

    watch = StatusWatch(1.0)
    raised: list[Exception] = []
    with pytest.raises(ExceptionGroup) as ended:
        async with asyncio.TaskGroup() as group:
            with watch.watching(link, report, group):
                group.create_task(lose())
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    try:  # the group is shutting down, the connection not yet left
                        watch.look()
                    except RuntimeError as exc:  # it would end the watch's task
                        raised.append(exc)
                    raise
    assert raised == []
    assert ended.group_contains(_Lost) and not ended.group_contains(RuntimeError)
