"""Drains the durable outbox of one identity: strictly in order, one CALL in flight.

Each event is rendered for the connection's protocol (``rendering``) as it is about to go out.
While a CALL is in flight the sender already reads (``prefetch``) and renders the next event
(its schema checks left to after the answer if they are not built: ``Unchecked``);
between an answer and the next CALL only the ack is written (``acks``, without an fsync): after
a crash of the process at most the event in flight is sent again, and the drain does not pay a
read, a rendering and an fsync per event. The answer to a session's start is written, with its
transaction id, in one (fsynced) commit before the next event is sent: it is never sent twice,
and the events behind it are read again so they carry the id.

The sender keeps no task while its line is empty: a connection ``start``s it, and the drain
runs in a task of the connection's group made when messages are in line (at the start, and at
each commit that queued some for this identity) and ended once the line is empty again, so at a
thousand idle identities a thousand waiting tasks are not kept. One drain at a time: a wake-up
while one runs is taken by it before it ends, which keeps the order and one CALL in flight.

A CALLERROR or a timeout counts as a failed attempt; after ``TransactionMessageAttempts``
attempts the event is parked (kept with the reason). Between attempts the sender waits
``TransactionMessageRetryInterval`` x attempts, as OCPP 1.6 (4.10) defines. A lost connection is
not an attempt: the event stays first in line and is sent again after the reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from edge_controller.domain.security import SecurityEventRaised
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.outbox.acks import AckPipeline
from edge_controller.uplink.outbox.prefetch import Prefetch
from edge_controller.uplink.outbox.progress import DrainProgress
from edge_controller.uplink.outbox.rendering import (
    NothingToSend,
    NotSendable,
    Rendering,
    outbox_unique_id,
)
from edge_controller.uplink.ports import QueuedMessage
from edge_controller.uplink.rpc import AnswerRefused, CallFailed, OutgoingCall
from edge_controller.uplink.wakeup import Flag, Wakeup

T = TypeVar("T")
TABLE_BATCH = 64  # journaled acks marked in the outbox table in one commit
NOT_SENDABLE = (NotSendable, KeyError, TypeError, AttributeError, ValueError)


class Unchecked:
    """A CALL read while one was in flight whose schema checks were not built: checked once
    the turn is free, not while it holds it (``RpcEndpoint.prepared`` may wait for them)."""


# The event and its CALL, ready to go out, or why it can never (or need never) be sent.
Prepared = tuple[QueuedMessage, OutgoingCall | NotSendable | NothingToSend | Unchecked]
Answered = tuple[dict[str, Any], "Prepared | None"]  # the answer, the next message meanwhile


class CallExchange(Protocol):
    """The connection's side of a CALL (``RpcEndpoint``)."""

    async def prepared(
        self, action: str, payload: dict[str, Any], unique_id: str | None = None
    ) -> OutgoingCall: ...

    def prepared_at_once(self, action: str) -> bool: ...

    async def exchange(
        self, outgoing: OutgoingCall, meanwhile: Callable[[], Awaitable[T]]
    ) -> tuple[dict[str, Any], T]: ...


class _Failed:
    """A CALL that counts as a failed attempt (CALLERROR, no answer in time): returned, not
    raised, so the task group of the sender does not take it for a crash."""

    def __init__(self, error: str, unknown_action: bool = False) -> None:
        self.error = error
        self.unknown_action = unknown_action  # the CSMS does not know the action at all


# CALLERROR codes of a CSMS that does not know an action: asking again will not help.
UNKNOWN_ACTION = frozenset({"NotImplemented", "NotSupported"})


class OutboxSender:
    def __init__(
        self, link: IdentityLink, channel: CallExchange, wakeup: Wakeup, rendering: Rendering
    ) -> None:
        self.link = link
        self._channel = channel
        self._rendering = rendering
        self._wakeup = wakeup
        self.sent = 0
        self.progress = DrainProgress(link.log, link.now_s)
        self.acks = AckPipeline(link.outbox, link.identity)
        self.idle = Flag()  # everything settled and written, no drain running
        self._closing = False  # an orderly stop: no new CALL
        self._settled = Flag()  # no CALL in flight, its answer taken in
        self._settled.set()
        self._group: asyncio.TaskGroup | None = None  # the connection's, while it runs
        self.task: asyncio.Task[None] | None = None  # the drain, while there is work

    async def drained(self) -> None:
        """Return once nothing is pending for this identity and no CALL is in flight (every
        answer taken in and written)."""
        while True:
            self.wake()  # messages queued just now are read at once
            await self.idle.wait()
            if await self.link.outbox.backlog(self.link.identity) == 0:
                return

    def wake(self) -> None:
        """Messages were queued for this identity just now: read them at once."""
        self._wakeup.set()

    async def close(self) -> None:
        """Start no new CALL; return once the one in flight (if any) is answered and taken in.
        What is still queued stays first in line for the next start."""
        self._closing = True
        self._wakeup.set()
        await self._settled.wait()

    def start(self, group: asyncio.TaskGroup) -> None:
        """Send what is in line now, and what is queued later, in tasks of ``group`` (the
        connection's) made while there is something to send; until ``stop``."""
        self._group = group
        self._wakeup.listen(self._woken)
        self._woken()  # what was queued before this connection

    def stop(self) -> None:
        """The connection ends: no new drain (one running ends with the connection's group);
        what is queued waits for the next connection's sender."""
        self._wakeup.listen(None)
        self._group = None
        self.idle.clear()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _woken(self) -> None:
        """Messages are in line: a drain reads them (the running one, before it ends)."""
        if self.task is not None or self._group is None or self._closing:
            return
        self._wakeup.take()  # the new drain reads the line from its start
        try:
            self.task = self._group.create_task(self.run())
        except RuntimeError:
            # The group is shutting down (the connection failed and its task is not yet
            # cancelled): what is in line stays first for the next connection.
            return
        self.idle.clear()

    async def run(self) -> None:
        """Drain the line until it is empty and no wake-up came meanwhile."""
        try:
            async with asyncio.TaskGroup() as tasks:
                await self._drain(Prefetch(self.link.outbox, self.link.identity, tasks), tasks)
        except BaseExceptionGroup as group:
            # The session handles what ended this sender (a lost connection...), not a group.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            try:
                # Written before the next connection reads the outbox: a reconnect resends
                # nothing.
                await self.acks.flush_on_exit()
            finally:
                self.task = None
        if self._wakeup.pending:
            self._woken()  # queued while this drain was ending: the next one reads it
        if self.task is None and self._group is not None:
            self.idle.set()

    async def _drain(self, queue: Prefetch, tasks: asyncio.TaskGroup) -> None:
        prepared: Prepared | None = None
        while True:
            item = prepared if prepared is not None else await self._prepare(queue)
            prepared = None
            if item is not None and isinstance(item[1], Unchecked):
                item = await self._checked(item[0])
            if item is None:
                self.progress.finish()
                await self.acks.flush()
                await queue.restart()  # also picks up a parked message put back in line
                # Woken meanwhile by the outbox's commits of this identity's messages, a
                # requeue or a drain: read again. Else the drain ends (one woken while it
                # ends makes the next, ``run``); no poll (a thousand idle senders read a
                # thousand times a second). A retry waits in ``_failed``, before the line is
                # read again.
                if self._closing or not self._wakeup.take():
                    return
                continue
            if self._closing:
                return  # stays first in line for the next start
            await self.progress.tick(lambda: self.link.outbox.backlog(self.link.identity))
            # Every confirmed message is acked before the next CALL: a crash resends only one.
            await self.acks.secure()
            prepared, keep = await self._settle(item, queue, tasks)
            if not keep:
                prepared = None
                await queue.restart()

    async def _prepare(self, queue: Prefetch, in_turn: bool = False) -> Prepared | None:
        """The next message with its CALL built, framed and schema-checked: done while the one
        before is in flight, so only the send is left between an answer and the next CALL."""
        message = await queue.next()
        if message is None:
            return None
        return await self._checked(message, in_turn)

    async def _checked(self, message: QueuedMessage, in_turn: bool = False) -> Prepared:
        """``message`` rendered and its CALL built; ``in_turn``: while a CALL is in flight,
        so ``Unchecked`` rather than waiting for its schema checks."""
        try:
            action, payload = self._rendering.request(message)
            if in_turn and not self._channel.prepared_at_once(action):
                return message, Unchecked()
            outgoing = await self._channel.prepared(action, payload, outbox_unique_id(message))
        except NothingToSend as exc:
            return message, exc
        except CallFailed as exc:
            return message, NotSendable(f"not sendable: {exc.code}: {exc.description}")
        except NOT_SENDABLE as exc:
            return message, NotSendable(f"not sendable: {exc}")
        return message, outgoing

    async def _settle(
        self, item: Prepared, queue: Prefetch, tasks: asyncio.TaskGroup
    ) -> tuple[Prepared | None, bool]:
        """Send one message and settle it: (the next one, prepared meanwhile; whether what was
        read ahead is still valid)."""
        message, outgoing = item
        assert not isinstance(outgoing, Unchecked)  # checked by ``_drain``
        start = self._rendering.starts_transaction(message)
        answered = start and message.remote_transaction_id is not None
        if answered or isinstance(outgoing, NothingToSend):
            # Answered before a restart cut us off between the two writes: never send twice.
            # Or nothing on this protocol: settled as it is.
            self.acks.add(message.seq)
            return None, True
        if isinstance(outgoing, NotSendable):
            await self._park(message, str(outgoing))
            return None, False
        local_id = message.session_local_id if start else None

        async def meanwhile() -> Prepared | None:
            if self.acks.journaled >= TABLE_BATCH:
                self.acks.flush_soon(tasks)  # acks of messages before this one
            # What follows a start waits for its transaction id: it is read again after it.
            return None if local_id is not None else await self._prepare(queue, in_turn=True)

        self._settled.clear()
        try:
            result = await self._call(outgoing, meanwhile)
            if not isinstance(result, _Failed):
                self.sent += 1
                self.acks.add(message.seq)
                if local_id is not None:
                    await self._start_confirmed(message, local_id, result[0])
                else:
                    self._token_status(message, result[0])
                await self._rendering.answered(message, result[0])
        finally:
            self._settled.set()
        if isinstance(result, _Failed):
            if result.unknown_action and isinstance(message.event, SecurityEventRaised):
                # A 1.6 CSMS without the security extension: kept, and the line moves on now
                # instead of holding sessions' messages behind the retries.
                await self._park(message, f"the CSMS does not take it: {result.error}")
            else:
                await self._failed(message, result.error)
            return None, False
        return (None, False) if local_id is not None else (result[1], True)

    async def _call(
        self, outgoing: OutgoingCall, meanwhile: Callable[[], Awaitable[Prepared | None]]
    ) -> Answered | _Failed:
        try:
            return await self._channel.exchange(outgoing, meanwhile)
        except AnswerRefused as exc:
            return _Failed(f"answer refused, {exc.code}: {exc.description}")
        except CallFailed as exc:
            error = f"CALLERROR {exc.code}: {exc.description}"
            return _Failed(error, exc.code in UNKNOWN_ACTION)
        except TimeoutError:
            return _Failed("no answer within the call timeout")

    async def _start_confirmed(
        self, message: QueuedMessage, session_local_id: int, answer: dict[str, Any]
    ) -> None:
        confirmed = self._rendering.start_confirmed(message, answer)
        remote_id = confirmed.remote_transaction_id
        # Durable together with the ack before any event that needs the id is sent; against a
        # power loss too where asking again would give another id (the commit's fsync).
        power_safe = self._rendering.start_answer_power_safe
        await self.acks.flush(remote_ids={session_local_id: remote_id}, power_safe=power_safe)
        if self.link.transactions is not None:
            self.link.transactions.transaction_confirmed(
                session_local_id, remote_id, confirmed.token_status
            )
        self.link.log.info(
            "transaction confirmed", session=session_local_id, transaction_id=remote_id
        )

    def _token_status(self, message: QueuedMessage, answer: dict[str, Any]) -> None:
        """A refusal of a running session's token in the answer to one of its later events
        reaches the session side as one in the start's answer does."""
        local_id, remote_id = message.session_local_id, message.remote_transaction_id
        status = self._rendering.token_status(message, answer)
        if status in (None, "Accepted") or local_id is None or remote_id is None:
            return
        self.link.log.warning("CSMS refused a running session's token", session=local_id,
                              status=status)  # fmt: skip
        if self.link.transactions is not None:
            self.link.transactions.transaction_confirmed(local_id, remote_id, str(status))

    async def _park(self, message: QueuedMessage, error: str) -> None:
        await self.acks.flush()  # the durable state never shows a later message settled first
        await self.link.outbox.park(message.seq, error)

    async def _failed(self, message: QueuedMessage, error: str) -> None:
        await self.acks.flush()
        attempts = await self.link.outbox.record_failure(message.seq, error)
        limit = self.link.config.int_value("TransactionMessageAttempts", 3)
        if attempts >= limit:
            await self.link.outbox.park(message.seq, f"{attempts} attempts failed, last: {error}")
            return
        interval_s = self.link.config.int_value("TransactionMessageRetryInterval", 30)
        self.link.log.warning(
            "transaction message failed, will retry",
            seq=message.seq,
            attempts=attempts,
            error=error,
        )
        await asyncio.sleep(interval_s * attempts)
