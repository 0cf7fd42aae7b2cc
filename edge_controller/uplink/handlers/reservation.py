"""CSMS reservations (OCPP 1.6 Reservation profile): ReserveNow and CancelReservation.

The live connector views rule out what the hardware refuses (faulted, unavailable, in use);
what is left is decided by the session side from its own states when it answers, so a
connector taken a moment ago (a session just opened, an EV just plugged) is never answered
Accepted and then left unreserved.

Connector 0 (any connector of this identity): the views show a connector-0 reservation only
while those need every free connector (then the free ones read Reserved, one id each), so a
connector shown Available proves there is room for one more. CancelReservation asks the session
side's book for every live id, shown or not.
"""

from __future__ import annotations

from typing import Any

from edge_controller.domain.commands import CancelReservation, Origin, Reserve
from edge_controller.domain.sessions.reservations import (
    Condition,
    Pool,
    Reservation,
    ReserveAnswer,
    any_connector_of,
    condition_of,
    decide_reserve,
    decide_reserve_any,
)
from edge_controller.domain.sessions.tokens import InvalidToken, normalize_id_tag
from edge_controller.domain.snapshot import ConnectorView
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ocpp_compat import Action, call_result
from edge_controller.uplink.rpc import on
from edge_controller.uplink.topology import UnknownConnector


class ReservationHandlers:
    link: IdentityLink

    def _reservation_views(self) -> dict[str, ConnectorView]:
        mine = self.link.topology.connectors(self.link.identity)
        return {v.connector_id: v for v in self.link.status.connectors_of(mine)}

    def _condition(self, number: int, view: ConnectorView | None, reservation_id: int) -> Condition:
        if view is None:
            return Condition.UNAVAILABLE
        inoperative = self.link.config.inoperative(number) or self.link.config.inoperative(0)
        condition = condition_of(view.availability, inoperative)
        held_by_other = view.reservation_id not in (None, reservation_id)
        if condition is Condition.FREE and (view.session_id is not None or held_by_other):
            return Condition.OCCUPIED
        return condition

    def _decide(self, number: int, request: Reservation) -> ReserveAnswer:
        views = self._reservation_views()
        now_s = self.link.now_s()
        if number != 0:
            condition = self._condition(
                number, views.get(request.connector_id), request.reservation_id
            )
            return decide_reserve({}, request, condition, now_s).answer
        # A connector shown Reserved for another id is taken, by whichever kind of reservation.
        local = self.link.topology.connectors(self.link.identity)
        conditions = {
            cid: self._condition(n, views.get(cid), request.reservation_id)
            for n, cid in enumerate(local, start=1)
        }
        return decide_reserve_any(Pool(conditions), request, now_s).answer

    @on(Action.reserve_now)
    async def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        **_: Any,
    ) -> Any:
        try:
            local = (
                any_connector_of(self.link.identity)
                if connector_id == 0
                else self.link.topology.connector_id(self.link.identity, connector_id)
            )
            tag = normalize_id_tag(id_tag)
            parent = normalize_id_tag(parent_id_tag) if parent_id_tag else None
            expiry_at_s = from_iso(expiry_date) - self.link.clock.offset_s  # our clock
        except (UnknownConnector, InvalidToken, ValueError):
            return call_result.ReserveNow(status=ReserveAnswer.REJECTED.value)
        if not self.link.accepted:
            return call_result.ReserveNow(status=ReserveAnswer.REJECTED.value)
        request = Reservation(reservation_id, local, tag, expiry_at_s, parent)
        answer = self._decide(connector_id, request)
        if answer is ReserveAnswer.ACCEPTED:
            command = Reserve(local, reservation_id, tag, expiry_at_s, parent, origin=Origin.CSMS)
            result = await self.link.commands.decide(command)
            answer = ReserveAnswer(result.answer) if result.answer else _answer_of(result.ok)
        self.link.log.info("ReserveNow answered", reservation_id=reservation_id,
                           connector_id=local, status=answer.value)  # fmt: skip
        return call_result.ReserveNow(status=answer.value)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        shown = any(v.reservation_id == reservation_id for v in self._reservation_views().values())
        known = shown or reservation_id in self.link.status.reservation_ids()
        if known and self.link.commands.submit(CancelReservation(reservation_id, Origin.CSMS)):
            return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")


def _answer_of(ok: bool) -> ReserveAnswer:
    return ReserveAnswer.ACCEPTED if ok else ReserveAnswer.REJECTED
