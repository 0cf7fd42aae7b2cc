"""One at a time, in the order asked: the lock of each connection's outgoing CALLs.

An ``asyncio.Lock`` keeps the deque of its waiters once two callers met (760 bytes even
empty: a block of 64 slots), for the connection's life; at a thousand identities, where a
status and a queued transaction message meet at each connect, most of a megabyte. This one
keeps a list only while someone waits.

The turn goes from the holder straight to the first waiter, so none can take it in between.
A waiter cancelled while it waits leaves the line; one cancelled after it was handed the turn
but before it ran passes the turn on, so it is never lost.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Turn:
    __slots__ = ("_held", "_waiting")

    def __init__(self) -> None:
        self._held = False
        self._waiting: list[asyncio.Future[None]] | None = None

    def locked(self) -> bool:
        return self._held

    async def __aenter__(self) -> None:
        if not self._held:  # then whoever is still in the list was cancelled
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiting is None:
            self._waiting = []
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._pass_on()  # handed the turn, cancelled before it ran
            raise
        finally:
            self._leave(turn)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pass_on()

    def _pass_on(self) -> None:
        """The holder is done: the first waiter still waiting holds the turn now."""
        for turn in self._waiting or ():
            if not turn.done():
                turn.set_result(None)
                return
        self._held = False

    def _leave(self, turn: asyncio.Future[None]) -> None:
        waiting = self._waiting
        if waiting is not None:
            waiting.remove(turn)
            if not waiting:
                self._waiting = None
