"""Paid sessions end before their running cost would pass what the card holder allowed: at the
reading that reaches it, or earlier when the next reading is projected past it
(``domain.pricing.outlook``). The capture stays capped at the pre-authorised amount."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from edge_controller.domain.commands import CommandResult, Origin, StopReason, StopSession
from edge_controller.domain.payments import cost_limit_reached
from edge_controller.domain.pricing.outlook import CostOutlook
from edge_controller.log import get_logger
from edge_controller.storage.payments_store import PaymentStore

# The open session's cost on a connector, tax included, now and projected to its next reading
# (None: not priced).
RunningCost = Callable[[str], CostOutlook | None]
Stop = Callable[[StopSession], Awaitable[CommandResult]]

log = get_logger("payments")
ORIGIN = Origin.PAYMENT_TERMINAL


class CostLimits:
    def __init__(
        self, store: PaymentStore, running_cost: RunningCost, stop: Stop, interval_s: float = 1.0
    ) -> None:
        self._store, self._running_cost, self._stop = store, running_cost, stop
        self._interval_s = interval_s
        self._stopped: set[int] = set()  # sessions already asked to stop

    async def check(self) -> list[str]:
        """Stop every paid session whose cost reached its reservation; the connectors."""
        stopped = []
        charging = await self._store.charging()
        self._stopped &= {p.session_local_id for p in charging if p.session_local_id is not None}
        for payment in charging:
            local_id = payment.session_local_id
            cost = self._running_cost(payment.connector_id)
            if local_id is None or local_id in self._stopped or cost is None:
                continue
            if not cost_limit_reached(payment.authorisation.amount, cost):
                continue
            reason = StopReason.COST_LIMIT
            result = await self._stop(StopSession(payment.connector_id, ORIGIN, reason))
            log.info("paid amount reached; stopping", connector_id=payment.connector_id,
                     cost=str(cost.now), authorised=str(payment.authorisation.amount),
                     ok=result.ok)  # fmt: skip
            if result.ok:
                self._stopped.add(local_id)
                stopped.append(payment.connector_id)
        return stopped

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._interval_s)
