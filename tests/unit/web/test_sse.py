"""The server-sent event streams every live page uses, over real HTTP on localhost: an update at
once and at each new version, at most ``limit`` streams, and the end when the page's right
lapses."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.api.changes import Versions
from edge_controller.web.sse import Streams


async def test_updates_at_each_version_and_a_second_stream_over_the_limit_is_refused() -> None:
    source, streams, allowed = Versions(), Streams("test", 1), [True]

    async def events(request: web.Request) -> web.StreamResponse:
        def update() -> bytes:
            return f"data: {source.version}\n\n".encode()

        return await streams.serve(request, source, update, lasts=lambda: allowed[0])

    app = web.Application()
    app.router.add_get("/events", events)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/events")
        assert await response.content.readuntil(b"\n\n") == b"data: 0\n\n"  # at once
        source.bump()
        assert await response.content.readuntil(b"\n\n") == b"data: 1\n\n"
        refused = await client.get("/events")
        assert (refused.status, await refused.text()) == (503, "too many test streams")
        allowed[0] = False  # e.g. a logout: the stream ends at the next change
        source.bump()
        assert await asyncio.wait_for(response.content.read(), 5) == b""
        assert streams.open == 0
        allowed[0] = True
        again = await client.get("/events")  # its place is free again
        assert await again.content.readuntil(b"\n\n") == b"data: 2\n\n"
        again.close()


async def test_a_waiter_learns_of_a_change_or_of_none_within_its_time() -> None:
    source = Versions()
    assert await source.changed(0, 0.01) is False
    waiter = asyncio.create_task(source.changed(0, 5.0))
    await asyncio.sleep(0)
    source.bump()
    assert await waiter is True and await source.changed(0, 0.0) is True
