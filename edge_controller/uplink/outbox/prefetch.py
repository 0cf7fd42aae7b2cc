"""Read-ahead of one identity's outbox, so the next message is at hand when an answer arrives.

Rows are read in batches, in sequence order, after the last one read (sequence numbers are never
reused). The next batch is read in the background while the buffer still holds messages, so a
read never waits behind a commit on the sender's critical path; a read the sender must wait for
(after a restart) fetches only a few rows, and the background read the rest. A buffered row
carries the remote transaction id known when it was read: ``restart()`` after recording a new
one (and after any failure or park) to read again from the oldest pending message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from edge_controller.uplink.ports import QueuedMessage, TransactionOutbox

READ_AHEAD = 64
LOW_WATER = 16
FIRST_READ = 4  # rows of a read the sender waits for (each costs a JSON parse)


class Prefetch:
    def __init__(
        self,
        outbox: TransactionOutbox,
        identity: str,
        tasks: asyncio.TaskGroup,
        *,
        read_ahead: int = READ_AHEAD,
        low_water: int = LOW_WATER,
    ) -> None:
        self._outbox = outbox
        self._identity = identity
        self._tasks = tasks
        self._read_ahead = read_ahead
        self._low_water = low_water
        # Made at the first read with rows: an idle identity keeps no deque (760 bytes).
        self._buffer: deque[QueuedMessage] | None = None
        self._after: int | None = None  # seq of the last row read
        self._reading: asyncio.Task[Sequence[QueuedMessage]] | None = None

    async def next(self) -> QueuedMessage | None:
        """The next message in line, or None when the outbox has nothing more now."""
        if self._reading is not None and (self._reading.done() or not self._buffer):
            self._take(await self._reading)
        elif not self._buffer:
            self._take(await self._read(self._after, min(FIRST_READ, self._read_ahead)))
        if not self._buffer:
            return None
        message = self._buffer.popleft()
        left = len(self._buffer)
        if not left:
            self._buffer = None
        if left < self._low_water and self._reading is None:
            self._reading = self._tasks.create_task(self._read(self._after))
        return message

    async def restart(self) -> None:
        """Forget what was read ahead; the next message is the oldest pending one."""
        if self._reading is not None:
            await self._reading
            self._reading = None
        self._buffer = None
        self._after = None

    def _take(self, rows: Sequence[QueuedMessage]) -> None:
        self._reading = None
        if rows:
            if self._buffer is None:
                self._buffer = deque()
            self._buffer.extend(rows)
            self._after = rows[-1].seq

    async def _read(self, after_seq: int | None, limit: int = 0) -> Sequence[QueuedMessage]:
        return await self._outbox.peek_many(
            self._identity, after_seq=after_seq, limit=limit or self._read_ahead
        )
