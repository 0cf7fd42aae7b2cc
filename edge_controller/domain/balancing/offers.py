"""Each connector's offer while it is decided, its own caps, and the order of admission.

Admission order within a priority class: sessions protected by their minimum charge time; running
sessions not yet due for rotation; sessions that have waited a full rotation interval (longest
wait first); running sessions that have charged a full interval (shortest run first); then the
other waiting ones. Greedy admission in this order pauses as few sessions as possible, rotates
paused ones in at the interval and never stops everyone to restart.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge_controller.domain.balancing.tree import Tree
from edge_controller.domain.balancing.types import (
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    Policy,
)
from edge_controller.domain.model import Limit

_PROTECTED, _RUNNING, _WAITED, _DUE, _WAITING = range(5)
_NEVER = float("-inf")
_UNAVAILABLE, _FAULTED, _IDLE = DemandState.UNAVAILABLE, DemandState.FAULTED, DemandState.IDLE
_WAITING_EV, _CHARGING, _PAUSED = DemandState.WAITING, DemandState.CHARGING, DemandState.PAUSED
_WANTING = (_WAITING_EV, _CHARGING, _PAUSED)

SETTLING = "settling after a decrease"
HYSTERESIS = "; hysteresis (holding "
"""What follows the constraint's label in the reason of an offer the hysteresis holds."""
AdmissionKey = tuple[int, int, float, float, float, str]
"""Minus the priority, the admission group, the wait, the session's energy and start, the id."""
Before = ConnectorAllocation | None
"""A connector's allocation in the previous decision, if it had one."""


@dataclass(slots=True)
class Offer:
    """One connector's offer while it is decided. ``reason`` starts as the cap that bounds the
    connector and ends as the reason for its offer; ``hold`` says why it may not start now."""

    demand: ConnectorDemand
    path: tuple[int, ...]  # its node in the tree, that node's parent, ..., the grid
    phases: tuple[int, ...]  # the grid phases its EV loads
    before: Before  # its allocation in the previous decision
    floor_a: float  # its minimum current
    before_a: float = 0.0  # the offer of that allocation (0 without one)
    ceiling_a: float = 0.0
    reason: str = ""
    hold: str | None = None
    key: AdmissionKey = (0, 0, 0.0, 0.0, 0.0, "")
    current_a: float = 0.0
    # Held by the hysteresis at ``before_a``: since when without a break, the lowest share since.
    held_since_s: float = float("inf")
    held_least_a: float = 0.0

    @property
    def priority(self) -> int:
        return self.demand.priority

    def may_draw(self, now_s: float) -> float:
        """The most its EV may still draw from an earlier, higher offer (0: none)."""
        before = self.before
        if before is None or self.demand.state not in _WANTING:
            return 0.0
        return before.settling_from_a if now_s < before.settled_at_s else 0.0


_renew = Offer.__init__
"""Rewrites every field of an offer record in place (a decision reuses the last one's records)."""


class OfferRecords:
    """Offer records kept from one decision for the next, which rewrites every field of each
    in place: making a thousand new records per decision costs more than the rest of the scan.
    A caller that decides again and again (the control loop) holds one and passes it to each
    decision in turn; no record outlives its decision's ``allocate`` call."""

    __slots__ = ("_records",)

    def __init__(self) -> None:
        self._records: list[Offer] = []

    def take(self, count: int) -> list[Offer]:
        """At least ``count`` records, their fields to be rewritten (blank where new)."""
        records = self._records
        while len(records) < count:
            records.append(Offer.__new__(Offer))
        return records


@dataclass(slots=True)
class Decision:
    """The offers of one decision: ``all`` in the order of the demands, ``contenders`` (those
    that may charge) in admission order, and the ``others`` that get 0 whatever the capacity."""

    all: list[Offer]
    contenders: list[Offer]
    others: list[Offer]
    now_s: float
    settling: bool  # some connector's EV may still follow an earlier lowering
    # Starts held while lowered EVs follow, whose minimums are kept free (``settle``).
    reserved: list[Offer] = field(default_factory=list)

    @property
    def silent(self) -> list[Offer]:
        """Chargers that do not answer: assumed at their maximum on every wired phase."""
        return [offer for offer in self.others if offer.demand.state is _UNAVAILABLE]


@dataclass(slots=True)
class Rules:
    """One decision's admission rules; the reason texts are made once per decision."""

    policy: Policy
    now_s: float
    fallback: Limit | None  # the stale-meter fallback, if the meter is stale
    ramp_reason: str
    pause_hold: str
    ramp_hold: str
    min_charge_s: float  # (the policy's, read for every connector)
    rotation_s: float
    increase_interval_s: float
    max_reasons: dict[float, str] = field(default_factory=dict)  # max current → its reason

    @classmethod
    def make(cls, policy: Policy, *, now_s: float, stale: bool) -> Rules:
        fallback_a = policy.fallback_current_a
        fallback = Limit(fallback_a, f"grid meter stale → fallback {fallback_a:g} A")
        ramp = f"ramp limit (1 increase / {policy.increase_interval_s:g} s)"
        pause = f"paused: min pause {policy.min_pause_s:g} s"
        rules = (ramp, pause, "paused: " + ramp)
        timing = (policy.min_charge_s, policy.rotation_interval_s, policy.increase_interval_s)
        return cls(policy, now_s, fallback if stale else None, *rules, *timing)

    def own_cap(self, demand: ConnectorDemand) -> tuple[float, str]:
        """The lowest of the connector's own caps (charger max, cable, EV, CSMS, operator, the
        stale-meter fallback) and its reason; the first of equal limits names it."""
        if not demand.limits and self.fallback is None:
            max_a = demand.max_current_a
            return max_a, self.max_reasons.get(max_a) or self._max_reason(max_a)
        best = None
        for limit in demand.limits:
            if best is None or limit.current_a < best.current_a:
                best = limit
        if best is None or demand.max_current_a <= best.current_a:
            cap_a = demand.max_current_a
            reason = self.max_reasons.get(cap_a) or self._max_reason(cap_a)
        else:
            cap_a, reason = best.current_a, best.source
        fallback = self.fallback
        if fallback is not None and fallback.current_a < cap_a:
            return fallback.current_a, fallback.source
        return cap_a, reason

    def _max_reason(self, max_a: float) -> str:
        """The reason of a connector bound by its maximum (a site has a few distinct ones: each
        is named once per decision)."""
        reason = self.max_reasons[max_a] = _max_limit(max_a).source
        return reason

    def contender(
        self, record: Offer, demand: ConnectorDemand, path: tuple[int, ...], before: Before
    ) -> Offer:
        """The offer of a connector that may charge, written into ``record``: its own cap and
        reason, lowered to its previous offer while it may not rise; its hold if it may not
        start; its admission key. Written whole in one step: this runs for every connector on
        every decision."""
        if demand.limits or self.fallback is not None:
            ceiling_a, reason = self.own_cap(demand)
        else:  # (``own_cap`` of a connector bound by its maximum, inline: the usual case)
            ceiling_a = demand.max_current_a
            reason = self.max_reasons.get(ceiling_a) or self._max_reason(ceiling_a)
        now_s, hold = self.now_s, None
        if before is not None and before.current_a > 0:  # running: in its group, no hold
            before_a, since_s = before.current_a, now_s - before.changed_at_s
            if before_a < ceiling_a:  # below its cap: it keeps its offer while it may not rise
                if before.settled_at_s > now_s:  # its EV still follows a lowering
                    ceiling_a, reason = before_a, f"{reason}; {SETTLING}"
                elif now_s - before.increased_at_s < self.increase_interval_s:
                    ceiling_a, reason = before_a, self.ramp_reason
            group, wait_s = _PROTECTED, 0.0
            if since_s >= self.min_charge_s:
                group, wait_s = (_DUE, since_s) if since_s >= self.rotation_s else (_RUNNING, 0.0)
        else:
            before_a = 0.0 if before is None else before.current_a
            group, wait_s, hold = self._paused(before)
        start_s = now_s if demand.session_start_s is None else demand.session_start_s
        key = (
            -demand.priority,
            group,
            wait_s,
            demand.session_energy_wh,
            start_s,
            demand.connector_id,
        )
        wiring, ev_phases = demand.wiring, demand.ev_phases  # (``grid_phases``, inline)
        phases = wiring if ev_phases is None or ev_phases >= len(wiring) else demand.grid_phases
        floor_a = demand.min_current_a
        _renew(
            record, demand, path, phases, before, floor_a, before_a, ceiling_a, reason, hold, key
        )
        return record

    def _paused(self, before: Before) -> tuple[int, float, str | None]:
        """A paused connector's admission group and wait (longest first), and its hold if it
        may not start yet."""
        if before is None:
            since_s, increased_s = -_NEVER, _NEVER
        else:
            since_s, increased_s = self.now_s - before.changed_at_s, before.increased_at_s
        policy, hold = self.policy, None
        if since_s < policy.min_pause_s:
            hold = self.pause_hold
        elif self.now_s - increased_s < policy.increase_interval_s:
            hold = self.ramp_hold
        return (_WAITED if since_s >= self.rotation_s else _WAITING), -since_s, hold


@functools.lru_cache(maxsize=64)
def _max_limit(current_a: float) -> Limit:
    return Limit(current_a, f"max {current_a:g} A")


def decide_caps(
    tree: Tree,
    demands: Sequence[ConnectorDemand],
    previous: Mapping[str, ConnectorAllocation],
    rules: Rules,
    records: OfferRecords,
) -> Decision:
    """Every connector's offer record (from ``records``) with its own cap (``ceiling_a``) and
    reason; those that may charge in admission order, the others with their 0 and its reason."""
    now_s, paths, find, contender = rules.now_s, tree.feeder_paths, previous.get, rules.contender
    contenders: list[Offer] = []
    others: list[Offer] = []
    settling = False
    offers = records.take(len(demands))[: len(demands)]  # record i holds demand i's offer
    for demand, record in zip(demands, offers, strict=True):
        try:
            path = paths[demand.feeder]
        except KeyError:  # (a look-up that fails costs less than a test on every connector)
            raise ValueError(f"unknown feeder {demand.feeder!r}") from None
        before = find(demand.connector_id)
        if before is not None and before.settled_at_s > now_s:
            settling = True
        state = demand.state
        if (
            (state is _CHARGING or state is _WAITING_EV or state is _PAUSED)
            and demand.enabled
            and demand.charger_enabled
        ):
            contenders.append(contender(record, demand, path, before))
        else:
            others.append(_other(record, demand, path, before))
    contenders.sort(key=_admission_key)
    return Decision(offers, contenders, others, now_s, settling)


_admission_key = operator.attrgetter("key")


def _other(record: Offer, demand: ConnectorDemand, path: tuple[int, ...], before: Before) -> Offer:
    """The offer of a connector that gets 0 whatever the capacity, with its reason, written
    into ``record``."""
    before_a = 0.0 if before is None else before.current_a
    if demand.state is _UNAVAILABLE:
        reason = f"not answering → assumed {demand.max_current_a:g} A"
    else:
        reason = idle_reason(demand) or ""
    wiring, ev_phases = demand.wiring, demand.ev_phases  # (``grid_phases``, inline)
    phases = wiring if ev_phases is None or ev_phases >= len(wiring) else demand.grid_phases
    _renew(record, demand, path, phases, before, demand.min_current_a, before_a, 0.0, reason)
    return record


def idle_reason(demand: ConnectorDemand) -> str | None:
    """Why a connector gets nothing regardless of capacity, or None if it may charge."""
    if not demand.enabled:
        return "disabled by operator"
    if demand.state is _FAULTED:
        return "faulted"
    if demand.state is _IDLE:
        return "no vehicle"
    if not demand.charger_enabled:
        return "charger disabled"
    return None


def full(label: str) -> str:
    """Why a connector is paused where its minimum finds no room on the constraint ``label``
    (admission, or a start held while lowered EVs follow: the same words either way)."""
    return f"paused: {label} full"


def below_minimum(offer: Offer) -> str:
    """Why a connector whose own cap is below its minimum gets nothing: a cap of 0 A says it
    alone ("waiting for authorisation"), any other is compared with the minimum."""
    if offer.ceiling_a <= 0:
        return offer.reason
    return f"{offer.reason}, below min {offer.floor_a:g} A"
