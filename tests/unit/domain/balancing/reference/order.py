"""Per-connector caps and the order in which sessions are admitted (priority, rotation).

Admission order within a priority class: sessions protected by their minimum charge time; running
sessions not yet due for rotation; sessions that have waited a full rotation interval (longest
wait first); running sessions that have charged a full interval (shortest run first); then the
other waiting ones. Greedy admission in this order pauses as few sessions as possible, rotates
paused ones in at the interval and never stops everyone to restart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from edge_controller.domain.balancing.types import (
    EPS_A,
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    Policy,
)
from edge_controller.domain.model import Limit

_PROTECTED, _RUNNING, _WAITED, _DUE, _WAITING = range(5)


@dataclass(slots=True)
class Candidate:
    """A connector that may charge; ``hold`` explains why it may not start now (or None)."""

    index: int
    demand: ConnectorDemand
    ceiling_a: float
    reason: str
    running: bool
    hold: str | None
    sort_key: tuple[int, int, float, float, float, str]


def own_cap(demand: ConnectorDemand, stale: bool, policy: Policy) -> Limit:
    """The lowest of the connector's own limits: charger max, cable, EV, CSMS, operator."""
    best: Limit | None = None
    for limit in demand.limits:  # the first of equal limits names the reason
        if best is None or limit.current_a < best.current_a:
            best = limit
    if best is None or demand.max_current_a <= best.current_a:
        best = _max_limit(demand.max_current_a)
    if stale and policy.fallback_current_a < best.current_a:
        fallback = policy.fallback_current_a
        best = Limit(fallback, f"grid meter stale → fallback {fallback:g} A")
    return best


@functools.lru_cache(maxsize=64)
def _max_limit(current_a: float) -> Limit:
    return Limit(current_a, f"max {current_a:g} A")


def idle_reason(demand: ConnectorDemand) -> str | None:
    """Why a connector gets nothing regardless of capacity, or None if it may charge."""
    if not demand.enabled:
        return "disabled by operator"
    if demand.state is DemandState.FAULTED:
        return "faulted"
    if demand.state is DemandState.IDLE:
        return "no vehicle"
    if not demand.charger_enabled:
        return "charger disabled"
    return None


def candidate(
    index: int,
    demand: ConnectorDemand,
    cap: Limit,
    prev: ConnectorAllocation | None,
    *,
    now_s: float,
    policy: Policy,
) -> Candidate:
    prev_a = prev.current_a if prev is not None else 0.0
    changed_s = prev.changed_at_s if prev is not None else float("-inf")
    increased_s = prev.increased_at_s if prev is not None else float("-inf")
    running = prev_a > 0
    since_s = now_s - changed_s
    ramp_ok = now_s - increased_s >= policy.increase_interval_s
    ceiling, reason = cap.current_a, cap.source
    hold: str | None = None
    settling = prev is not None and now_s < prev.settled_at_s
    if running and settling and prev_a < ceiling:  # lowered: no rise until its EV followed
        ceiling, reason = prev_a, f"{cap.source}; settling after a decrease"
    elif running and not ramp_ok and prev_a < ceiling:
        ceiling, reason = prev_a, _ramp_reason(policy.increase_interval_s)
    if not running and since_s < policy.min_pause_s:
        hold = f"paused: min pause {policy.min_pause_s:g} s"
    elif not running and not ramp_ok:
        hold = "paused: " + _ramp_reason(policy.increase_interval_s)
    if running:
        group = _PROTECTED if since_s < policy.min_charge_s else _RUNNING
        if group == _RUNNING and since_s >= policy.rotation_interval_s:
            group = _DUE
        wait_s = since_s if group == _DUE else 0.0
    else:
        group = _WAITED if since_s >= policy.rotation_interval_s else _WAITING
        wait_s = -since_s  # longest wait first
    start_s = demand.session_start_s if demand.session_start_s is not None else now_s
    key = (
        -demand.priority,
        group,
        wait_s,
        demand.session_energy_wh,
        start_s,
        demand.connector_id,
    )
    return Candidate(index, demand, ceiling, reason, running, hold, key)


def _ramp_reason(increase_interval_s: float) -> str:
    return f"ramp limit (1 increase / {increase_interval_s:g} s)"


def below_minimum(cand: Candidate) -> str | None:
    """The reason a connector cannot charge because a cap is below its minimum, or None."""
    if cand.ceiling_a < cand.demand.min_current_a - EPS_A:
        if cand.ceiling_a <= 0:
            return cand.reason
        return f"{cand.reason}, below min {cand.demand.min_current_a:g} A"
    return None
