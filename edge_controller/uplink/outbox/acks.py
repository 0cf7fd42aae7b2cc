"""Acks of confirmed outbox messages, each made durable before the next CALL goes out.

A confirmed message is acked in memory at once; right before it sends the next CALL the sender
``secure``s the acks: with an outbox that journals acks, one small file append makes them
durable against a crash of the process (``storage.outbox.journal``), so after a crash at most the
one message in flight is sent again (as OCPP allows) and never one the CSMS already confirmed.
``flush`` marks them in the outbox table (``Outbox.ack_many``, without an fsync): in batches
while a CALL is in flight, and before the sender reads its line again, parks, retries or idles.
A StartTransaction answer is written with its transaction id (``flush(remote_ids=...)``,
fsynced) before any message that needs the id is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from edge_controller.uplink.ports import TransactionOutbox


@runtime_checkable
class JournalingOutbox(Protocol):
    """An outbox that can make acks durable without a commit (``storage.outbox.Outbox``)."""

    def journal_acks(self, identity: str, seqs: Sequence[int]) -> None: ...

    async def ack_many(
        self,
        seqs: Sequence[int],
        *,
        remote_ids: Mapping[int, int] | None = None,
        journal: str | None = None,
        power_safe: bool = True,
    ) -> int: ...


class AckPipeline:
    def __init__(self, outbox: TransactionOutbox, identity: str) -> None:
        self._outbox = outbox
        self._journal = outbox if isinstance(outbox, JournalingOutbox) else None
        self._identity = identity
        self._queued: list[int] = []  # confirmed, not durable yet
        self.journaled = 0  # durable in the journal, not marked in the table yet
        self._writing = 0  # confirmed, in the table write in flight
        self._lock = asyncio.Lock()  # one write at a time keeps the durable prefix in order
        self._background: asyncio.Task[None] | None = None

    @property
    def unwritten(self) -> int:
        """Confirmed messages not yet marked acked in the outbox table."""
        return len(self._queued) + self.journaled + self._writing

    def add(self, seq: int) -> None:
        """``seq`` was confirmed by the CSMS; the next ``secure`` makes that durable."""
        self._queued.append(seq)

    async def secure(self) -> None:
        """Return once every ack added so far is durable against a crash of the process."""
        if self._journal is None:
            await self.flush()
        elif self._queued:
            try:
                self._journal.journal_acks(self._identity, self._queued)
            except OSError:
                await self.flush()  # no journal (a full disk?): the table write will do
                return
            self.journaled += len(self._queued)
            self._queued = []

    def flush_soon(self, tasks: asyncio.TaskGroup) -> None:
        """``flush`` in a task of ``tasks`` unless one is still running: the table write then
        overlaps the CSMS's work and the next CALL. Journaled acks need it only to keep the
        journal short; without a journal, ``secure`` writes the table anyway."""
        if self._journal is not None and (self._background is None or self._background.done()):
            self._background = tasks.create_task(self.flush())

    async def flush(
        self, remote_ids: Mapping[int, int] | None = None, *, power_safe: bool = True
    ) -> None:
        """Return once every ack added so far (and ``remote_ids``) is marked in the table;
        ``power_safe`` False: ``remote_ids`` need not survive a power loss (no fsync)."""
        async with self._lock:
            if not self._queued and not self.journaled and not remote_ids:
                return
            batch, self._queued = self._queued, []
            self._writing, self.journaled = len(batch) + self.journaled, 0
            try:
                if self._journal is not None:
                    await self._journal.ack_many(
                        batch, remote_ids=remote_ids, journal=self._identity,
                        power_safe=power_safe,
                    )  # fmt: skip
                else:
                    await self._outbox.ack_many(batch, remote_ids=remote_ids, power_safe=power_safe)
            except BaseException:
                # Kept for the next write (acks are idempotent): a cancelled or failed write
                # may or may not have committed; journaled acks stay in the journal.
                self._queued = batch + self._queued
                self.journaled += self._writing - len(batch)
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
