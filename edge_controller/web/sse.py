"""Server-sent event streams: a source's update at once, then at each new version, with a
keep-alive line in between; a bounded number of streams open at once."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from edge_controller.api.changes import Versions

KEEPALIVE_S = 15.0  # a comment line keeps proxies and the browser from timing out


class Streams:
    """The open streams of one kind of page; more than ``limit`` are refused (503)."""

    def __init__(self, kind: str, limit: int) -> None:
        self.kind, self.limit = kind, limit
        self.open = 0

    async def serve(
        self,
        request: web.Request,
        source: Versions,
        update: Callable[[], bytes],
        *,
        lasts: Callable[[], bool] = lambda: True,
    ) -> web.StreamResponse:
        """Stream ``update()`` at every version of ``source`` while ``lasts()`` (checked at each
        change or keep-alive: a logout ends a console's stream there)."""
        if self.open >= self.limit:
            raise web.HTTPServiceUnavailable(text=f"too many {self.kind} streams")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        self.open += 1
        try:
            seen = -1
            while lasts():
                if seen != source.version:
                    seen = source.version
                    await response.write(update())
                elif not await source.changed(seen, KEEPALIVE_S):
                    await response.write(b": keepalive\n\n")
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self.open -= 1
        return response
