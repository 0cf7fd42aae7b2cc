"""Per-connector caps and the order in which sessions are admitted (priority, rotation).

Admission order within a priority class: sessions protected by their minimum charge time; running
sessions not yet due for rotation; sessions that have waited a full rotation interval (longest
wait first); running sessions that have charged a full interval (shortest run first); then the
other waiting ones. Greedy admission in this order pauses as few sessions as possible, rotates
paused ones in at the interval and never stops everyone to restart.

This runs once per connector per decision: ``scan`` fills every column in one pass, and the
per-call constants (thresholds, reason texts) are prepared once in ``Rules``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge_controller.domain.balancing.fill import Columns
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
_UNAVAILABLE = DemandState.UNAVAILABLE
_FAULTED = DemandState.FAULTED
_IDLE = DemandState.IDLE
# Without a vehicle, faulted or not answering: no current whatever the capacity.
_WAITING_EV, _CHARGING, _PAUSED = (
    DemandState.WAITING,
    DemandState.CHARGING,
    DemandState.PAUSED,
)

SETTLING = "settling after a decrease"
SortKey = tuple[int, int, float, float, float, str]
Candidate = tuple[SortKey, int, str | None]
"""A connector that may charge: its admission key (minus its priority first), its index, and
why it may not start now (or None)."""


def _fallback(policy: Policy) -> Limit:
    fallback_a = policy.fallback_current_a
    return Limit(fallback_a, f"grid meter stale → fallback {fallback_a:g} A")


def _own_cap(demand: ConnectorDemand, fallback: Limit | None) -> tuple[float, str]:
    best = None
    for limit in demand.limits:  # the first of equal limits names the reason
        if best is None or limit.current_a < best.current_a:
            best = limit
    if best is None or demand.max_current_a <= best.current_a:
        best = _max_limit(demand.max_current_a)
    if fallback is not None and fallback.current_a < best.current_a:
        best = fallback
    return best.current_a, best.source


@functools.lru_cache(maxsize=64)
def _max_limit(current_a: float) -> Limit:
    return Limit(current_a, f"max {current_a:g} A")


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


def below_minimum(reason: str, cap_a: float, min_a: float) -> str:
    """Why a connector whose own cap is below its minimum gets nothing: a cap of 0 A says it
    alone ("waiting for authorisation"), any other is compared with the minimum."""
    if cap_a <= 0:
        return reason
    return f"{reason}, below min {min_a:g} A"


def _ramp_reason(increase_interval_s: float) -> str:
    return f"ramp limit (1 increase / {increase_interval_s:g} s)"


@dataclass(slots=True)
class Rules:
    """One decision's admission rules. The policy's thresholds are copied into fields: each
    connector reads them."""

    now_s: float
    increase_interval_s: float
    min_charge_s: float
    min_pause_s: float
    rotation_interval_s: float
    fallback: Limit | None  # the stale-meter fallback, if the meter is stale
    ramp_reason: str
    pause_hold: str
    ramp_hold: str
    max_reasons: dict[float, str] = field(default_factory=dict)  # max current → its reason

    @classmethod
    def make(cls, policy: Policy, *, now_s: float, stale: bool) -> Rules:
        ramp = _ramp_reason(policy.increase_interval_s)
        fallback = _fallback(policy) if stale else None
        pause = f"paused: min pause {policy.min_pause_s:g} s"
        return cls(
            now_s,
            policy.increase_interval_s,
            policy.min_charge_s,
            policy.min_pause_s,
            policy.rotation_interval_s,
            fallback,
            ramp,
            pause,
            "paused: " + ramp,
        )

    def paused(self, since_s: float, since_increase_s: float) -> tuple[str | None, int, float]:
        """A paused connector's hold (if it may not start yet), admission group and wait key
        (longest wait first), ``since_s`` after it paused."""
        hold = None
        if since_s < self.min_pause_s:
            hold = self.pause_hold
        elif since_increase_s < self.increase_interval_s:
            hold = self.ramp_hold
        group = _WAITED if since_s >= self.rotation_interval_s else _WAITING
        return hold, group, -since_s

    def max_reason(self, max_a: float) -> str:
        """The reason of a connector bound by its maximum (a site has a few distinct ones: each
        is named once per decision)."""
        reason = self.max_reasons[max_a] = _max_limit(max_a).source
        return reason


def scan(
    tree: Tree,
    demands: Sequence[ConnectorDemand],
    prev: Mapping[str, ConnectorAllocation],
    rules: Rules,
    cols: Columns,
) -> tuple[list[Candidate], list[int]]:
    """Fills every connector's columns (path, loaded grid phases, previous allocation, caps).
    Returns the connectors that may charge in admission order, and the indices of the others,
    which get their 0 and its reason."""
    found: list[Candidate] = []
    others: list[int] = []
    try:
        _scan(tree, demands, prev, rules, (cols, found, others))
    except KeyError:  # only the tree's index raises it
        unknown = next(d.feeder for d in demands if d.feeder not in tree.index)
        raise ValueError(f"unknown feeder {unknown!r}") from None
    reasons = cols.reason
    for index in others:
        reasons[index] = _other_reason(demands[index])
    found.sort(key=operator.itemgetter(0))
    return found, others


def _scan(
    tree: Tree,
    demands: Sequence[ConnectorDemand],
    prev: Mapping[str, ConnectorAllocation],
    rules: Rules,
    into: tuple[Columns, list[Candidate], list[int]],
) -> None:
    """``scan`` in one pass over the connectors. It runs for each one on every decision, so it
    is one loop with the candidate's rules inline: a connector that may charge gets its ceiling
    (its own caps, its ramp limit), its reason, and its admission key."""
    cols, found, others = into
    paths, phases, before, before_a = cols.paths, cols.phases, cols.before, cols.before_a
    floor, ceiling, reasons = cols.floor_a, cols.ceiling_a, cols.reason
    nodes, node_paths, get, max_reasons = tree.index, tree.paths, prev.get, rules.max_reasons
    now_s, fallback = rules.now_s, rules.fallback
    interval_s, min_charge_s, rotation_s = (
        rules.increase_interval_s,
        rules.min_charge_s,
        rules.rotation_interval_s,
    )
    for index, demand in enumerate(demands):
        wiring, ev_phases = demand.wiring, demand.ev_phases
        if ev_phases is None or ev_phases >= len(wiring):  # ``ConnectorDemand.grid_phases``
            phases[index] = wiring
        else:
            phases[index] = wiring[: max(ev_phases, 1)]
        paths[index] = node_paths[nodes[demand.feeder]]  # an unknown feeder: see ``scan``
        floor[index] = demand.min_current_a
        entry = get(demand.connector_id)
        settling = False
        if entry is None:
            prev_a, changed_s, increased_s = 0.0, _NEVER, _NEVER
        else:
            _, prev_a, _, changed_s, increased_s, _, _, settled_s = before[index] = entry
            before_a[index] = prev_a
            if settled_s > now_s:
                settling = cols.settling = True
        state = demand.state
        if not (state is _CHARGING or state is _WAITING_EV or state is _PAUSED) or not (
            demand.enabled and demand.charger_enabled
        ):
            others.append(index)  # (its reason: see ``scan``)
            continue
        since_s = now_s - changed_s
        if demand.limits or fallback is not None:
            ceiling_a, reason = _own_cap(demand, fallback)
        else:
            ceiling_a = demand.max_current_a
            reason = max_reasons.get(ceiling_a) or rules.max_reason(ceiling_a)
        hold: str | None = None
        if prev_a > 0:
            if prev_a < ceiling_a and settling:  # lowered: no rise until its EV has followed
                ceiling_a, reason = prev_a, f"{reason}; {SETTLING}"
            elif now_s - increased_s < interval_s and prev_a < ceiling_a:
                ceiling_a, reason = prev_a, rules.ramp_reason
            group = _PROTECTED if since_s < min_charge_s else _RUNNING
            if group == _RUNNING and since_s >= rotation_s:
                group = _DUE
            wait_s = since_s if group == _DUE else 0.0
        else:
            hold, group, wait_s = rules.paused(since_s, now_s - increased_s)
        ceiling[index], reasons[index] = ceiling_a, reason
        key = (
            -demand.priority,
            group,
            wait_s,
            demand.session_energy_wh,
            now_s if demand.session_start_s is None else demand.session_start_s,
            demand.connector_id,
        )
        found.append((key, index, hold))


def _other_reason(demand: ConnectorDemand) -> str:
    if demand.state is _UNAVAILABLE:
        return f"not answering → assumed {demand.max_current_a:g} A"
    return idle_reason(demand) or ""
