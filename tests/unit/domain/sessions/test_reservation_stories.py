"""Reservations (``domain.sessions.reservations``), one story per file in
``reservation_stories/``, named after what the site lives through; ``OCPP_201_CASES`` names
the OCPP 2.0.1 reservation cases (H01-H04) they follow.

A story names its ``connectors`` and their condition (free, occupied, faulted, unavailable) and
runs steps, each at its ``at_s`` (kept from the step before when missing):
  connectors: {id: condition}  connectors change condition (an EV plugged in, a fault, ...)
  reserve: {id, connector, tag, parent, expires_at_s}   a ReserveNow (connector ``<cp>:0``:
                               any connector of that charge point)
  cancel: N                    a CancelReservation
  start: {connector, tag, parent}   a card or start command on a connector; a start that is
                               allowed uses the reservation it names and occupies the connector
  tap: {tag, connectors: [...]}     a card on a reader shared by waiting connectors
Expected, each optional: ``answer`` and ``reason`` (of a reserve), ``cancelled``, ``allowed``
and ``uses`` (of a start: the reservation id it uses, or null), ``order`` (of a tap: the
connectors in the order the card is offered to them), ``book`` (the ids of every live
reservation) and ``shown`` (each connector shown Reserved, with the reservation holding it).

The book is kept here the way the sessions service keeps it (``services.sessions``): specific
reservations by connector, connector-0 ones by id; expired ones hold nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.sessions import reservations as rules
from edge_controller.domain.sessions.reservations import (
    Condition,
    Pool,
    Reservation,
    ReserveAnswer,
    ReserveDecision,
)

STORIES = sorted((Path(__file__).parent / "reservation_stories").glob("*.yaml"))
# The OCPP 2.0.1 reservation cases (H) these stories follow.
OCPP_201_CASES = {
    "H01 reservation of an EVSE or of any": [
        "reserve_answers_follow_the_connector", "any_connector_reservations_keep_enough_free",
        "expiry_already_passed_is_rejected", "same_reservation_id_moves_it",
    ],
    "H02 cancel reservation": ["cancelled_reservation_frees_the_connector"],
    "H03 use a reserved EVSE": [
        "holder_arrives_and_uses_the_reservation", "fleet_colleague_uses_the_fleet_reservation",
        "any_connector_holder_uses_the_one_expiring_first",
    ],
    "H04 reservation ended, not used": [
        "reservation_expires_while_a_different_card_taps",
        "any_connector_reservation_expires_while_another_card_starts",
    ],
}  # fmt: skip


def test_every_2_0_1_case_cited_has_its_stories() -> None:
    names = {path.stem for path in STORIES}
    for case, files in OCPP_201_CASES.items():
        assert set(files) <= names, case


def _identity(connector_id: str) -> str:
    return connector_id.rpartition(":")[0]


@dataclass
class Site:
    conditions: dict[str, Condition]
    specific: dict[str, Reservation] = field(default_factory=dict)
    anywhere: dict[int, Reservation] = field(default_factory=dict)
    now_s: float = 0.0

    def held(self, connector_id: str) -> Reservation | None:
        found = self.specific.get(connector_id)
        return found if found is not None and found.live(self.now_s) else None

    def pool(self, identity: str, but_id: int | None = None) -> Pool:
        """As the service: a connector is free when nothing runs there and no specific
        reservation (other than ``but_id``, about to be replaced) holds it."""
        conditions = {}
        for cid, condition in self.conditions.items():
            if _identity(cid) == identity:
                held = self.held(cid)
                taken = held is not None and held.reservation_id != but_id
                conditions[cid] = Condition.OCCUPIED if taken else condition
        mine = [
            r
            for r in self.anywhere.values()
            if rules.identity_of_any(r.connector_id) == identity and r.reservation_id != but_id
        ]
        return Pool(conditions, mine)

    def reserve(self, request: Reservation) -> ReserveDecision:
        scope = rules.identity_of_any(request.connector_id)
        rid = request.reservation_id
        if scope is not None:
            decision = rules.decide_reserve_any(self.pool(scope, rid), request, self.now_s)
        else:
            condition = self.conditions[request.connector_id]
            decision = rules.decide_reserve(self.specific, request, condition, self.now_s)
            pool = self.pool(_identity(request.connector_id), rid)
            accepted = decision.answer is ReserveAnswer.ACCEPTED
            if accepted and not rules.leaves_enough(pool, request.connector_id, self.now_s):
                decision = ReserveDecision(ReserveAnswer.OCCUPIED, "kept free for connector 0")
        if decision.answer is ReserveAnswer.ACCEPTED:
            self.drop(rid)
            if scope is not None:
                self.anywhere[rid] = request
            else:
                self.specific[request.connector_id] = request
        return decision

    def drop(self, reservation_id: int) -> bool:
        found = self.anywhere.pop(reservation_id, None) is not None
        for cid in [c for c, r in self.specific.items() if r.reservation_id == reservation_id]:
            found = self.specific.pop(cid) is not None
        return found

    def start(self, connector_id: str, tag: str, parent: str | None) -> tuple[bool, int | None]:
        held = self.held(connector_id)
        if held is not None:
            allowed = rules.reservation_allows(held, tag, parent, self.now_s)
            uses = held if allowed else None
        else:
            pool = self.pool(_identity(connector_id))
            verdict = rules.decide_start_any(pool, connector_id, tag, parent, self.now_s)
            allowed, uses = verdict.allowed, verdict.uses
        if allowed:
            self.conditions[connector_id] = Condition.OCCUPIED
            if uses is not None:
                self.drop(uses.reservation_id)
        return allowed, None if uses is None else uses.reservation_id

    def tap_order(self, tag: str, connectors: list[str]) -> list[str]:
        return sorted(connectors, key=lambda cid: rules.tap_preference(self.held(cid), tag))

    def book(self) -> list[int]:
        every = [*self.specific.values(), *self.anywhere.values()]
        return sorted(r.reservation_id for r in every if r.live(self.now_s))

    def shown(self) -> dict[str, int]:
        shown = {cid: r.reservation_id for cid in self.conditions if (r := self.held(cid))}
        for identity in sorted({_identity(cid) for cid in self.conditions}):
            pool = self.pool(identity)
            for cid, r in rules.shown_reserved(pool, self.now_s).items():
                shown[cid] = r.reservation_id
        return shown


def _request(raw: dict[str, Any]) -> Reservation:
    return Reservation(
        int(raw["id"]),
        str(raw["connector"]),
        str(raw["tag"]),
        float(raw["expires_at_s"]),
        raw.get("parent"),
    )


def _step(site: Site, step: dict[str, Any]) -> dict[str, Any]:
    """Runs one step; returns what it answered, under the keys a step expects."""
    site.now_s = float(step.get("at_s", site.now_s))
    for cid, condition in step.get("connectors", {}).items():
        site.conditions[cid] = Condition(condition)
    got: dict[str, Any] = {}
    if "reserve" in step:
        decision = site.reserve(_request(step["reserve"]))
        got |= {"answer": decision.answer.value, "reason": decision.reason}
    if "cancel" in step:
        got["cancelled"] = site.drop(int(step["cancel"]))
    if "start" in step:
        start = step["start"]
        allowed, uses = site.start(str(start["connector"]), str(start["tag"]), start.get("parent"))
        got |= {"allowed": allowed, "uses": uses}
    if "tap" in step:
        got["order"] = site.tap_order(str(step["tap"]["tag"]), list(step["tap"]["connectors"]))
    return got | {"book": site.book(), "shown": site.shown()}


def test_there_are_stories() -> None:
    assert len(STORIES) >= 10


@pytest.mark.parametrize("path", STORIES, ids=lambda p: p.stem)
def test_story(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    site = Site({cid: Condition(c) for cid, c in raw["connectors"].items()})
    for number, step in enumerate(raw["steps"], start=1):
        got = _step(site, step)
        want = {key: step[key] for key in got if key in step}
        assert {key: got[key] for key in want} == want, f"step {number} {step}: {got}"
