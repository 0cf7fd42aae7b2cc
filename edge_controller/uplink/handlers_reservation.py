"""CSMS reservations (OCPP 1.6 Reservation profile): ReserveNow and CancelReservation.

The answer is decided here from the live connector views with the pure rules of
``domain.reservations``; the session manager keeps the book and checks again when the command
reaches it (a connector taken in between stays unreserved, and that is logged).

Connector 0 (any connector of this identity): the views show a connector-0 reservation only
while those need every free connector (then the free ones read Reserved, one id each), so a
connector shown Available proves there is room for one more. While there is room they are not
visible at all, so the ids accepted on this link are remembered for CancelReservation.
"""

from __future__ import annotations

import weakref
from typing import Any

from edge_controller.domain.commands import CancelReservation, Reserve
from edge_controller.domain.reservations import (
    Condition,
    Pool,
    Reservation,
    ReserveAnswer,
    any_connector_of,
    condition_of,
    decide_reserve,
    decide_reserve_any,
)
from edge_controller.domain.snapshot import ConnectorView
from edge_controller.domain.tokens import InvalidToken, normalize_id_tag
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.link import Link
from edge_controller.uplink.ocpp_compat import Action, call_result, on
from edge_controller.uplink.topology import UnknownConnector

# Connector-0 reservation ids accepted per link (id(link) -> reservation id -> expiry, our
# clock). Kept beside the link, not on the connection, so a reconnect does not forget them;
# an entry goes with its link. Bounded by the CSMS's live reservations (pruned at expiry).
_ANY_ACCEPTED: dict[int, dict[int, float]] = {}


def _accepted_any(link: Link) -> dict[int, float]:
    key = id(link)
    if key not in _ANY_ACCEPTED:
        _ANY_ACCEPTED[key] = {}
        weakref.finalize(link, _ANY_ACCEPTED.pop, key, None)
    return _ANY_ACCEPTED[key]


class ReservationHandlers:
    link: Link

    def _reservation_views(self) -> dict[str, ConnectorView]:
        mine = set(self.link.topology.connectors(self.link.identity))
        return {v.connector_id: v for v in self.link.status.connectors() if v.connector_id in mine}

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
    def on_reserve_now(
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
            command = Reserve(local, reservation_id, tag, expiry_at_s, parent, source="csms")
            if not self.link.commands.submit(command):
                answer = ReserveAnswer.REJECTED
        remembered = _accepted_any(self.link)
        remembered.pop(reservation_id, None)  # replaced, or now a specific one
        if answer is ReserveAnswer.ACCEPTED and connector_id == 0:
            remembered[reservation_id] = expiry_at_s
        self.link.log.info("ReserveNow answered", reservation_id=reservation_id,
                           connector_id=local, status=answer.value)  # fmt: skip
        return call_result.ReserveNow(status=answer.value)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        remembered = _accepted_any(self.link)
        now_s = self.link.now_s()
        for rid in [r for r, expiry_at_s in remembered.items() if expiry_at_s <= now_s]:
            del remembered[rid]
        shown = any(v.reservation_id == reservation_id for v in self._reservation_views().values())
        known = shown or remembered.pop(reservation_id, None) is not None
        if known and self.link.commands.submit(CancelReservation(reservation_id, source="csms")):
            return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")
