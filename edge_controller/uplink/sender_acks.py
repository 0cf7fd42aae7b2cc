"""Acks of confirmed outbox messages, written in the background, in order, in batches.

A confirmed message is acked in memory at once (the sender moves on to the next one) and made
durable by the next batch write, which overlaps the following round trips: one commit for many
messages instead of an fsync per message. Writes run one at a time in confirmation order, so the
durable state always covers a prefix of what the CSMS confirmed: never message n+1 acked while n
is not. What a crash can lose is only the un-written tail: at most ``max_unwritten`` messages the
CSMS already has are sent again after a restart (plus the one in flight, as OCPP allows). A
StartTransaction answer is never in that tail: ``flush(remote_ids=...)`` writes it with its
transaction id before any message that needs the id is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from edge_controller.uplink.ports import TransactionOutbox
from edge_controller.uplink.wakeup import Wakeup

MAX_UNWRITTEN_ACKS = 64
BATCH_ACKS = MAX_UNWRITTEN_ACKS // 2
LINGER_S = 0.05


class AckPipeline:
    def __init__(
        self,
        outbox: TransactionOutbox,
        max_unwritten: int = MAX_UNWRITTEN_ACKS,
        *,
        batch: int = BATCH_ACKS,
        linger_s: float = LINGER_S,
    ) -> None:
        self._outbox = outbox
        self.max_unwritten = max_unwritten
        self._batch = batch
        self._linger_s = linger_s
        self._full = Wakeup()
        self._queued: list[int] = []  # confirmed, not handed to a write yet
        self._writing = 0  # confirmed, in the write in flight
        self._lock = asyncio.Lock()  # one write at a time keeps the durable prefix in order
        self._wake = asyncio.Event()

    @property
    def unwritten(self) -> int:
        """Confirmed messages not yet durably acked."""
        return len(self._queued) + self._writing

    def add(self, seq: int) -> None:
        """``seq`` was confirmed by the CSMS; the background writer makes that durable."""
        self._queued.append(seq)
        self._wake.set()
        if len(self._queued) >= self._batch:
            self._full.set()

    async def run(self) -> None:
        """The background writer: one write per batch, or after ``linger_s`` at the latest."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Lingering gathers the acks of several round trips into one commit; the commits
            # then cost the CPU a writing thread shares with the sender far less often.
            await self._full.wait(self._linger_s)
            await self.flush()

    async def flush(self, remote_ids: Mapping[int, int] | None = None) -> None:
        """Return once every ack added so far (and ``remote_ids``) is durable."""
        async with self._lock:
            if not self._queued and not remote_ids:
                return
            batch, self._queued = self._queued, []
            self._writing = len(batch)
            try:
                await self._outbox.ack_many(batch, remote_ids=remote_ids)
            except BaseException:
                # Kept for the next write (acks are idempotent): a cancelled or failed write
                # may or may not have committed.
                self._queued = batch + self._queued
                raise
            finally:
                self._writing = 0

    async def flush_on_exit(self) -> None:
        """``flush`` that finishes even while the caller is cancelled again and again (a stop
        cancels every task until it ends): acks of messages the CSMS has are not given up on a
        clean stop. The cancellation is passed on once the write is done."""
        # Awaited to the end below, never left behind.
        write = asyncio.ensure_future(self.flush())
        cancelled = False
        while not write.done():
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                cancelled = True
        write.result()
        if cancelled:
            raise asyncio.CancelledError
