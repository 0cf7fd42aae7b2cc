"""Turns installed charging profiles into external limits for the load balancer, continuously.

Limits are re-evaluated every few seconds (schedules move with time) and at once when a
profile changes. A TxProfile lives as long as its transaction.
"""

from __future__ import annotations

from edge_controller.domain import charging_profiles as cp
from edge_controller.domain.model import Limit
from edge_controller.uplink.link import Link
from edge_controller.uplink.ports import LimitSink
from edge_controller.uplink.smart_store import ProfileStore

EVALUATE_EVERY_S = 5.0


class SmartCharging:
    def __init__(
        self, link: Link, sink: LimitSink, electrical: cp.Electrical, max_current_a: float
    ) -> None:
        self.link = link
        self.sink = sink
        self.electrical = electrical
        self.max_current_a = max_current_a
        self.store = ProfileStore(link.config)
        self._seen_start_s: dict[int, float] = {}
        self._pushed: tuple[dict[str, Limit], Limit | None] | None = None

    async def transaction(self, connector: int) -> tuple[int | None, float] | None:
        try:
            local = self.link.topology.connector_id(self.link.identity, connector)
        except KeyError:
            return None
        view = next((v for v in self.link.status.connectors() if v.connector_id == local), None)
        if view is None or not view.session_id or not view.session_id.isdigit():
            self._seen_start_s.pop(connector, None)
            return None
        now_s = self.link.clock.csms_now_s(self.link.now_s())
        start_s = self._seen_start_s.setdefault(connector, now_s)
        remote = await self.link.outbox.remote_transaction_id(int(view.session_id))
        return remote, start_s

    def composite(
        self, connector: int, start_s: float, duration_s: float, tx: tuple[int | None, float] | None
    ) -> list[tuple[float, float]]:
        count = len(self.link.connector_numbers()) if connector == 0 else 1
        return cp.composite(
            self.store.profiles,
            connector,
            start_s=start_s,
            duration_s=duration_s,
            transaction=tx,
            electrical=self.electrical,
            unlimited_a=self.max_current_a * count,
        )

    async def run(self) -> None:
        while True:
            await self.evaluate()
            await self.store.changed.wait(EVALUATE_EVERY_S)

    async def evaluate(self) -> None:
        now_s = self.link.clock.csms_now_s(self.link.now_s())
        limits: dict[str, Limit] = {}
        for number in self.link.connector_numbers():
            tx = await self.transaction(number)
            self._expire_tx_profiles(number, tx)
            found = cp.connector_limit(self.store.profiles, number, now_s, tx, self.electrical)
            if found is not None:
                local = self.link.topology.connector_id(self.link.identity, number)
                limits[local] = Limit(round(found[0], 2), f"csms profile {found[1].id}")
        top = cp.charge_point_limit(self.store.profiles, now_s, self.electrical)
        total = None if top is None else Limit(round(top[0], 2), f"csms profile {top[1].id}")
        if self._pushed != (limits, total):
            self._pushed = (limits, total)
            self.sink.set_external_limits(self.link.identity, limits, total)

    def _expire_tx_profiles(self, connector: int, tx: tuple[int | None, float] | None) -> None:
        if tx is not None and tx[0] is not None:
            self.store.bind_transaction(connector, tx[0])
        current = tx[0] if tx is not None else None
        self.store.remove(
            lambda p: (
                p.purpose == "TxProfile"
                and p.connector == connector
                and p.transaction_id is not None
                and p.transaction_id != current
            )
        )
