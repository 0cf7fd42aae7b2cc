"""What the site keeps but could not deliver or settle, counted for the status views (MQTT
status, /metrics, `status`): outbox messages the CSMS refused past their attempts (parked), and
card payments whose outcome a crash left unknown. Both are disk reads, made here every few
seconds, off the control path and the views."""

from __future__ import annotations

import asyncio

from edge_controller.storage import history
from edge_controller.storage.database import Database

EVERY_S = 5.0


class Attention:
    """(parked outbox messages, unknown payment outcomes), as last read."""

    def __init__(self, db: Database, every_s: float = EVERY_S) -> None:
        self._db, self._every_s = db, every_s
        self.parked, self.payments_unknown = 0, 0

    def counts(self) -> tuple[int, int]:
        return self.parked, self.payments_unknown

    async def refresh(self) -> None:
        self.parked, self.payments_unknown = await self._db.read(history.held_for_operator)

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._every_s)
