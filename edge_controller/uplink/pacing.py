"""What recurs on one open connection, without a task per kind of wait: at a thousand
identities each waiting task is kilobytes of the gateway's memory a thousand times over.

``keep_up`` runs in the connection's own task: the status report each second and the
Heartbeat at its interval (a new HeartbeatInterval restarts the wait with the new period).
Both go through the connection's one CALL in flight anyway, so one loop loses nothing.
``FollowupRunner`` runs what handlers staged in a task of the connection's group that is made
when a follow-up is released and ends when none is left (a diagnostics upload with its
retries must not hold up statuses and heartbeats, so not in the loop above).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from edge_controller.uplink.link import Followup, IdentityLink

DEFAULT_HEARTBEAT_S = 300


def heartbeat_interval_s(link: IdentityLink) -> int:
    return link.config.int_value("HeartbeatInterval", DEFAULT_HEARTBEAT_S) or DEFAULT_HEARTBEAT_S


async def keep_up(
    link: IdentityLink,
    report: Callable[[], Awaitable[None]],
    heartbeat: Callable[[], Awaitable[None]],
    poll_s: float,
) -> None:
    """``report`` every ``poll_s``, ``heartbeat`` every HeartbeatInterval; never returns."""
    loop = asyncio.get_running_loop()
    beat_at_s = loop.time() + heartbeat_interval_s(link)
    while True:
        await report()
        if loop.time() >= beat_at_s:
            await heartbeat()
            beat_at_s = loop.time() + heartbeat_interval_s(link)
        wait_s = max(0.0, min(poll_s, beat_at_s - loop.time()))
        if await link.heartbeat_changed.wait(wait_s):
            beat_at_s = loop.time() + heartbeat_interval_s(link)


async def keep_up_with_followups(
    link: IdentityLink,
    followups: FollowupRunner,
    report: Callable[[], Awaitable[None]],
    heartbeat: Callable[[], Awaitable[None]],
    poll_s: float,
) -> None:
    """``keep_up`` while ``followups`` runs what handlers release on this connection and what
    the connection before left; never returns."""
    link.followups_released = followups.released
    try:
        followups.released()
        await keep_up(link, report, heartbeat, poll_s)
    finally:
        link.followups_released = None


class FollowupRunner:
    """Runs ``link``'s released follow-ups in order, one at a time, in a task of ``group``
    that lives only while there are some."""

    __slots__ = ("_group", "_link", "_run_one", "task")

    def __init__(
        self,
        link: IdentityLink,
        group: asyncio.TaskGroup,
        run_one: Callable[[Followup], Awaitable[None]],
    ) -> None:
        self._link, self._group, self._run_one = link, group, run_one
        self.task: asyncio.Task[None] | None = None

    def released(self) -> None:
        """Follow-ups are waiting (also those left from the connection before): run them."""
        if self._link.followups and self.task is None:
            self.task = self._group.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._link.followups:
                await self._run_one(self._link.followups.pop(0))
        finally:
            self.task = None  # no await since the last look: nothing released is missed

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
