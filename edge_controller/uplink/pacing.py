"""What recurs on one open connection, without a task per kind of wait: at a thousand
identities each waiting task is kilobytes of the gateway's memory a thousand times over.

``keep_up`` runs in the connection's own task: the status report each second and the
Heartbeat at its interval (a new HeartbeatInterval restarts the wait with the new period).
Both go through the connection's one CALL in flight anyway, so one loop loses nothing.
With a ``StatusWatch`` (the uplink's) the connection's task wakes for its heartbeats only: the
watch looks at every connected identity's status each second from one task, and reports an
identity's statuses, in a task of its connection's group, only when they changed (a thousand
idle identities woke a thousand tasks and timers a second to find nothing to say).
``FollowupRunner`` runs what handlers staged in a task of the connection's group that is made
when a follow-up is released and ends when none is left (a diagnostics upload with its
retries must not hold up statuses and heartbeats, so not in the loop above).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from edge_controller.uplink.link import Followup, IdentityLink

DEFAULT_HEARTBEAT_S = 300


def heartbeat_interval_s(link: IdentityLink) -> int:
    return link.config.int_value("HeartbeatInterval", DEFAULT_HEARTBEAT_S) or DEFAULT_HEARTBEAT_S


Report = Callable[[], Awaitable[None]]


async def keep_up(
    link: IdentityLink,
    report: Report,
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


async def keep_up_watched(
    link: IdentityLink,
    report: Report,
    heartbeat: Callable[[], Awaitable[None]],
    watch: StatusWatch,
    group: asyncio.TaskGroup,
) -> None:
    """The statuses reported now, then whenever ``watch`` finds them changed (in a task of
    ``group``); ``heartbeat`` every HeartbeatInterval; never returns."""
    loop = asyncio.get_running_loop()
    beat_at_s = loop.time() + heartbeat_interval_s(link)
    await report()
    with watch.watching(link, report, group):
        while True:
            if loop.time() >= beat_at_s:
                await heartbeat()
                beat_at_s = loop.time() + heartbeat_interval_s(link)
            if await link.heartbeat_changed.wait(max(0.0, beat_at_s - loop.time())):
                beat_at_s = loop.time() + heartbeat_interval_s(link)


async def keep_up_with_followups(
    link: IdentityLink,
    followups: FollowupRunner,
    report: Report,
    heartbeat: Callable[[], Awaitable[None]],
    poll_s: float,
    *,
    watch: StatusWatch | None = None,
) -> None:
    """``keep_up`` (``keep_up_watched`` with a ``watch``) while ``followups`` runs what
    handlers release on this connection and what the connection before left; never returns."""
    link.followups_released = followups.released
    try:
        followups.released()
        if watch is None:
            await keep_up(link, report, heartbeat, poll_s)
        else:
            await keep_up_watched(link, report, heartbeat, watch, followups.group)
    finally:
        link.followups_released = None


def status_inputs(link: IdentityLink) -> tuple[Any, ...]:
    """Everything an identity's status report is made of (its connectors' states, which of
    them the CSMS made inoperative, the gateway faults its charge point reports): a report
    can say something new only when these changed."""
    mine = link.topology.connectors(link.identity)
    inoperative = tuple(link.config.inoperative(n) for n in range(len(mine) + 1))
    faults = tuple(link.station_faults()) if link.station_faults is not None else ()
    return (*link.status.states_of(mine), inoperative, faults)


class _Watched:
    """One connection's statuses as last looked at, and its report under way."""

    __slots__ = ("again", "group", "inputs", "link", "report", "task")

    def __init__(self, link: IdentityLink, report: Report, group: asyncio.TaskGroup) -> None:
        self.link, self.report, self.group = link, report, group
        # None: the first look reports (anything that changed while the connection's first
        # report was under way is told then)
        self.inputs: tuple[Any, ...] | None = None
        self.task: asyncio.Task[None] | None = None
        self.again = False  # changed again while its report was under way

    def look(self) -> None:
        inputs = status_inputs(self.link)
        if inputs == self.inputs and not self.link.cost_watches:
            return  # nothing new to say, and no cost trigger to look at
        self.inputs = inputs
        if self.task is not None:
            self.again = True
            return
        job = self._report()
        try:
            self.task = self.group.create_task(job)
        except RuntimeError:  # the connection's group is ending: so is its watching
            job.close()
            self.inputs = None

    async def _report(self) -> None:
        try:
            while True:
                self.again = False
                await self.report()
                if not self.again:
                    return
        finally:
            self.task = None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


class StatusWatch:
    """Looks at every watched connection's status each ``poll_s`` from one task (``run``) and
    has a connection report only when its identity's status changed (or a 1.6 RunningCost
    trigger is to be looked at): what changes is reported as soon as with a report a second
    per connection, in the same order, and an idle identity costs a comparison."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self._watched: dict[str, _Watched] = {}  # by identity

    @contextlib.contextmanager
    def watching(
        self, link: IdentityLink, report: Report, group: asyncio.TaskGroup
    ) -> Iterator[None]:
        """``link``'s connection is watched, its reports run in ``group``, while entered."""
        watched = self._watched[link.identity] = _Watched(link, report, group)
        try:
            yield
        finally:
            if self._watched.get(link.identity) is watched:
                del self._watched[link.identity]
            watched.cancel()

    async def run(self) -> None:
        """Never returns."""
        while True:
            await asyncio.sleep(self.poll_s)
            self.look()

    def look(self) -> None:
        for watched in list(self._watched.values()):
            watched.look()


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

    @property
    def group(self) -> asyncio.TaskGroup:
        """The connection's group."""
        return self._group

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
