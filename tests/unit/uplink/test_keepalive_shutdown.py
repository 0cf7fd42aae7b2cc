"""A ping that comes due while the keepalive's task is being stopped starts nothing.

The connections are stand-ins: what matters is the order of events at shutdown, which a real
peer would leave to chance (a ping that is slow to give up, a timer due meanwhile).
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any, cast

import pytest
from websockets.asyncio.connection import Connection
from websockets.protocol import State

from edge_controller.uplink.keepalive import Keepalive


class StandIn:
    """A connection whose ping never gets its frame out and, cancelled, gives up only when
    ``let_go`` is set (a write under way finishing)."""

    def __init__(self) -> None:
        self.state = State.OPEN
        self.remote_address = ("127.0.0.1", 0)
        self.pinging = asyncio.Event()
        self.let_go = asyncio.Event()
        self.pings = 0

    async def ping(self) -> asyncio.Future[float]:
        self.pings += 1
        self.pinging.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            await self.let_go.wait()
            raise
        raise AssertionError("unreachable")


async def test_a_ping_due_while_the_keepalive_stops_starts_nothing() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    keepalive = Keepalive()
    runner = asyncio.create_task(keepalive.run())
    await asyncio.sleep(0)
    slow, due = StandIn(), StandIn()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with keepalive.watching(cast(Connection, slow), 0.0, 10.0):
                await asyncio.wait_for(slow.pinging.wait(), 5.0)
                runner.cancel()
                for _ in range(3):  # the runner's group is stopping, waiting for the ping
                    await asyncio.sleep(0)
                assert not runner.done()
                with keepalive.watching(cast(Connection, due), 0.0, 10.0):
                    for _ in range(5):  # its first ping falls due meanwhile
                        await asyncio.sleep(0)
                    slow.let_go.set()
                    with pytest.raises(asyncio.CancelledError):
                        await runner
            gc.collect()  # an abandoned coroutine warns when it is collected
        assert due.pings == 0
        assert errors == []
        assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    finally:
        loop.set_exception_handler(None)
