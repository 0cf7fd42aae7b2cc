"""Websocket pings for every connection of the site from one task, instead of the websocket
library's keepalive task per connection (a waiting task is about 1.9 kB, a thousand times
over at a thousand identities).

The same rule as the library's: the first ping ``interval_s`` after the connection opened,
the next ``interval_s`` after the one before (at once when its pong took longer); a pong
missing ``timeout_s`` after its ping closes the connection with 1011 (internal error) and
"keepalive ping timeout", bounded by the connection's close timeout (a dead peer answers no
close), and the connection's reader then ends with ``ConnectionClosedError``. Between pings a
connection costs a timer, not a task; a task exists only while a ping is written or a
connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State

from edge_controller.log import get_logger

TIMED_OUT_REASON = "keepalive ping timeout"
_log = get_logger("uplink.keepalive")


class _Watched:
    """One connection's ping period and the timer of what is due next for it."""

    __slots__ = ("interval_s", "timeout_s", "timer", "ws")

    def __init__(self, ws: Connection, interval_s: float, timeout_s: float) -> None:
        self.ws, self.interval_s, self.timeout_s = ws, interval_s, timeout_s
        self.timer: asyncio.TimerHandle | None = None


class Keepalive:
    """Open connections are ``watching``'s while it is entered; ``run`` does the writing."""

    def __init__(self) -> None:
        self._watched: dict[Connection, _Watched] = {}
        self._tasks: asyncio.TaskGroup | None = None

    async def run(self) -> None:
        """Never returns; what was watched when it ends is no longer pinged."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                await asyncio.get_running_loop().create_future()
            finally:
                # Before the group stops, not after: it waits for its tasks to end, and a
                # timer due meanwhile must find no group to start a ping on (one that is
                # shutting down refuses it, in a loop callback, its coroutine never run).
                self._tasks = None
                for watched in self._watched.values():
                    _cancel(watched)

    @contextlib.contextmanager
    def watching(self, ws: Connection, interval_s: float, timeout_s: float) -> Iterator[None]:
        """Ping ``ws`` while the block runs (it opened just before)."""
        watched = _Watched(ws, interval_s, timeout_s)
        self._watched[ws] = watched
        self._ping_in(watched, interval_s)
        try:
            yield
        finally:
            _cancel(watched)
            del self._watched[ws]

    def _ping_in(self, watched: _Watched, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        watched.timer = loop.call_later(max(0.0, delay_s), self._due, watched)

    def _due(self, watched: _Watched) -> None:
        watched.timer = None
        self._start(watched, self._ping(watched))

    def _start(self, watched: _Watched, work: Coroutine[Any, Any, None]) -> None:
        if self._tasks is None or self._watched.get(watched.ws) is not watched:
            work.close()  # stopping, or the connection ended meanwhile
            return
        self._tasks.create_task(work)

    async def _ping(self, watched: _Watched) -> None:
        ws = watched.ws
        if ws.state is not State.OPEN:
            return  # closing: its reader ends it
        try:
            pong = asyncio.ensure_future(await ws.ping())
        except ConnectionClosed:
            return
        except Exception:  # the library's keepalive logs and stops pinging; so does this
            _log.exception("keepalive ping failed", remote=str(ws.remote_address))
            return
        if self._watched.get(ws) is not watched:
            return
        loop = asyncio.get_running_loop()
        watched.timer = loop.call_later(watched.timeout_s, self._timed_out, watched, pong)
        pong.add_done_callback(lambda done: self._ponged(watched, done))

    def _ponged(self, watched: _Watched, pong: asyncio.Future[float]) -> None:
        if pong.cancelled() or pong.exception() is not None:
            return  # the connection closed: its reader ends it
        if self._watched.get(watched.ws) is not watched:
            return
        if watched.timer is not None:
            watched.timer.cancel()
        # As the library: the next ping ``interval_s`` after this one was sent.
        self._ping_in(watched, watched.interval_s - pong.result())

    def _timed_out(self, watched: _Watched, pong: asyncio.Future[float]) -> None:
        watched.timer = None
        if pong.done():
            return  # answered as the deadline came: ``_ponged`` goes on
        self._start(watched, self._close(watched.ws))

    async def _close(self, ws: Connection) -> None:
        _log.debug("no pong in time, closing", remote=str(ws.remote_address))
        try:
            await ws.close(CloseCode.INTERNAL_ERROR, TIMED_OUT_REASON)
        except Exception:  # the reader ends the connection all the same
            _log.exception("closing after a ping timeout failed", remote=str(ws.remote_address))


def _cancel(watched: _Watched) -> None:
    if watched.timer is not None:
        watched.timer.cancel()
        watched.timer = None
