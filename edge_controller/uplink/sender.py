"""Drains the durable outbox of one identity: strictly in order, one CALL in flight.

A CALLERROR or a timeout counts as a failed attempt; after ``TransactionMessageAttempts``
attempts the message is parked (kept with the reason). Between attempts the sender waits
``TransactionMessageRetryInterval`` x attempts, as OCPP 1.6 (4.10) defines. A lost connection is
not an attempt: the message stays first in line and is sent again after the reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from edge_controller.uplink import payloads
from edge_controller.uplink.link import Link
from edge_controller.uplink.ocpp_compat import OCPPError, request
from edge_controller.uplink.ports import QueuedMessage
from edge_controller.uplink.progress import DrainProgress
from edge_controller.uplink.wakeup import Wakeup

Caller = Callable[[Any], Awaitable[Any]]
IDLE_POLL_S = 1.0


class OutboxSender:
    def __init__(self, link: Link, send: Caller, wakeup: Wakeup) -> None:
        self.link = link
        self._send = send
        self._wakeup = wakeup
        self.sent = 0
        self.progress = DrainProgress(link.log, link.now_s)

    async def run(self) -> None:
        while True:
            message = await self.link.outbox.peek(self.link.identity)
            if message is None:
                self.progress.finish()
                await self._idle()
                continue
            await self.progress.tick(lambda: self.link.outbox.backlog(self.link.identity))
            await self.send_one(message)

    async def _idle(self) -> None:
        await self._wakeup.wait(IDLE_POLL_S)

    async def send_one(self, message: QueuedMessage) -> None:
        outbox = self.link.outbox
        if message.action == "StartTransaction" and message.remote_transaction_id is not None:
            # Answered before a restart cut us off between the two writes: never send twice.
            await outbox.ack(message.seq)
            return
        try:
            payload = payloads.build(
                message.action,
                payload=message.payload,
                remote_transaction_id=message.remote_transaction_id,
                has_session=message.session_local_id is not None,
                topology=self.link.topology,
                clock=self.link.clock,
            )
            outgoing = request(message.action, payload)
        except (payloads.NotSendable, KeyError, TypeError, AttributeError, ValueError) as exc:
            await outbox.park(message.seq, f"not sendable: {exc}")
            return
        try:
            result = await self._send(outgoing)
        except OCPPError as exc:
            await self._failed(message, f"CALLERROR {exc.code}: {exc.description}")
            return
        except TimeoutError:
            await self._failed(message, "no answer within the call timeout")
            return
        await self._confirmed(message, result)

    async def _confirmed(self, message: QueuedMessage, result: Any) -> None:
        if message.action == "StartTransaction" and message.session_local_id is not None:
            remote_id = int(result.transaction_id)
            await self.link.outbox.set_remote_transaction_id(message.session_local_id, remote_id)
            if self.link.transactions is not None:
                status = str(result.id_tag_info.get("status", "Invalid"))
                self.link.transactions.transaction_confirmed(
                    message.session_local_id, remote_id, status
                )
            self.link.log.info(
                "transaction confirmed", session=message.session_local_id, transaction_id=remote_id
            )
        await self.link.outbox.ack(message.seq)
        self.sent += 1

    async def _failed(self, message: QueuedMessage, error: str) -> None:
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
