"""Follow-ups a CSMS handler stages: released after its answer, dropped when the queue is
full; a GetLog whose upload was dropped does not stay "accepted"; a connection runs those left
from the one before and those released on it, and none after it ended."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from edge_controller.config.settings import OcppSettings
from edge_controller.uplink.link import (
    FOLLOWUP_QUEUE_SIZE,
    Followup,
    IdentityLink,
    Trigger,
    UploadLog,
)
from edge_controller.uplink.pacing import FollowupRunner, keep_up_with_followups
from edge_controller.uplink.topology import Topology

UPLOAD = UploadLog("http://127.0.0.1/log", "diagnostics.zip", 9, 0, 60.0)


def _link() -> IdentityLink:
    unused = cast(Any, None)  # the follow-up queue uses none of these
    topology = Topology("site", "cp", {"c": 1})
    config = cast(Any, SimpleNamespace(int_value=lambda key, default: default))
    return IdentityLink(
        "cp", OcppSettings(), topology, config, unused, unused, unused, unused, lambda: 0.0
    )


async def test_a_staged_upload_is_released_and_stays_accepted() -> None:
    link = _link()
    link.log_accepted = 9
    link.stage(UPLOAD)
    link.release_staged()
    assert link.followups == [UPLOAD] and link.log_accepted == 9


async def test_an_upload_dropped_on_a_full_queue_is_not_left_accepted() -> None:
    link = _link()
    link.followups.extend(Trigger("Heartbeat") for _ in range(FOLLOWUP_QUEUE_SIZE))
    link.log_accepted = 9
    link.stage(UPLOAD)
    link.release_staged()
    assert link.log_accepted is None and link.staged == []
    assert UPLOAD not in link.followups and len(link.followups) == FOLLOWUP_QUEUE_SIZE


class ConnectionLost(Exception):
    """The test's connection ends."""


async def test_a_connection_runs_followups_left_before_and_released_on_it() -> None:
    link = _link()
    left = Trigger("BootNotification")
    link.followups.append(left)  # released while the connection before was down
    ran: list[Followup] = []
    ran_count = {1: asyncio.Event(), 2: asyncio.Event()}

    async def run_one(followup: Followup) -> None:
        ran.append(followup)
        ran_count[len(ran)].set()

    async def report() -> None:  # the first status report: the connection's whole life
        await asyncio.wait_for(ran_count[1].wait(), 10)
        link.stage(Trigger("StatusNotification", 1))  # a handler's answer was sent
        link.release_staged()
        await asyncio.wait_for(ran_count[2].wait(), 10)
        raise ConnectionLost

    async def heartbeat() -> None:
        """No heartbeat is due within the test."""

    with pytest.raises(ExceptionGroup) as lost:
        async with asyncio.TaskGroup() as group:
            runner = FollowupRunner(link, group, run_one)
            await keep_up_with_followups(link, runner, report, heartbeat, 0.0)
    assert lost.group_contains(ConnectionLost)
    assert ran == [left, Trigger("StatusNotification", 1)] and link.followups == []
    # Offline: released follow-ups wait for the next connection.
    assert link.followups_released is None
    link.stage(UPLOAD)
    link.release_staged()
    assert link.followups == [UPLOAD] and ran == [left, Trigger("StatusNotification", 1)]
