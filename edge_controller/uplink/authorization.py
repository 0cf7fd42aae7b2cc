"""The session side's way to ask the CSMS about an id tag, as a channel created before both.

The session side awaits ``authorize(id_tag, key_code=...)``; ``OcppUplink.run`` serves the
requests, each in its own task, so a slow answer holds up no other tap. Overflow policy: a full
queue answers None at once (no answer: the offline rules decide). A requester that gives up (its
timeout) cancels the CSMS call made for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from edge_controller.domain.sessions.authorization import AuthResult

Answer = Callable[[str, bool], Awaitable[AuthResult | None]]
"""Ask the CSMS about (id tag, whether it is a typed key code)."""
QUEUE_SIZE = 64
_Request = tuple[str, bool, asyncio.Future[AuthResult | None]]


class CsmsAuthorization:
    def __init__(self, maxsize: int = QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[_Request] = asyncio.Queue(maxsize)

    async def authorize(self, id_tag: str, *, key_code: bool = False) -> AuthResult | None:
        """The CSMS's answer; None when it is not reachable or did not answer."""
        future: asyncio.Future[AuthResult | None] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((id_tag, key_code, future))
        except asyncio.QueueFull:
            return None
        return await future

    async def serve(self, answer: Answer) -> None:
        """Answer every request with ``answer`` (the uplink's Authorize), until cancelled."""
        async with asyncio.TaskGroup() as group:
            while True:
                id_tag, key_code, future = await self._queue.get()
                if future.done():
                    continue  # its requester gave up while it waited
                task = group.create_task(_answer(answer, (id_tag, key_code), future))
                future.add_done_callback(_cancel_if_given_up(task))


def _cancel_if_given_up(
    task: asyncio.Task[None],
) -> Callable[[asyncio.Future[AuthResult | None]], None]:
    def done(future: asyncio.Future[AuthResult | None]) -> None:
        if future.cancelled():
            task.cancel()

    return done


async def _answer(
    answer: Answer, asked: tuple[str, bool], future: asyncio.Future[AuthResult | None]
) -> None:
    try:
        result = await answer(*asked)
    except Exception as exc:  # the requester gets it, as if it had called itself
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(result)
