"""Acks of confirmed outbox messages, each made durable before the next CALL goes out.

A confirmed message is acked in memory at once; the sender ``flush``es right before it sends the
next CALL, so after a crash of the process at most the one message in flight is sent again (as
OCPP allows) and never one the CSMS already confirmed. Plain acks commit without an fsync
(``Outbox.ack_many``), so a flush costs a short write, not a disk round trip; the read-ahead and
payload building still overlap the CSMS round trip. A StartTransaction answer is written with its
transaction id (``flush(remote_ids=...)``, fsynced) before any message that needs the id is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from edge_controller.uplink.ports import TransactionOutbox


class AckPipeline:
    def __init__(self, outbox: TransactionOutbox) -> None:
        self._outbox = outbox
        self._queued: list[int] = []  # confirmed, not handed to a write yet
        self._writing = 0  # confirmed, in the write in flight
        self._lock = asyncio.Lock()  # one write at a time keeps the durable prefix in order

    @property
    def unwritten(self) -> int:
        """Confirmed messages not yet durably acked."""
        return len(self._queued) + self._writing

    def add(self, seq: int) -> None:
        """``seq`` was confirmed by the CSMS; the next ``flush`` makes that durable."""
        self._queued.append(seq)

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
