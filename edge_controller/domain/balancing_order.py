"""Per-connector caps and the order in which sessions are admitted (priority, rotation).

Admission order within a priority class: sessions protected by their minimum charge time; running
sessions not yet due for rotation; sessions that have waited a full rotation interval (longest
wait first); running sessions that have charged a full interval (shortest run first); then the
other waiting ones. Greedy admission in this order pauses as few sessions as possible, rotates
paused ones in at the interval and never stops everyone to restart.

This runs once per connector per decision, so the per-call constants (thresholds, reason texts)
are prepared once in ``Rules`` and the loop body touches each field only once.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from edge_controller.domain.balancing_fill import Columns
from edge_controller.domain.balancing_types import (
    ConnectorAllocation,
    ConnectorDemand,
    ConnectorState,
    Policy,
)
from edge_controller.domain.model import Limit

_PROTECTED, _RUNNING, _WAITED, _DUE, _WAITING = range(5)
_NEVER = float("-inf")
_UNAVAILABLE = ConnectorState.UNAVAILABLE
_FAULTED = ConnectorState.FAULTED
_IDLE = ConnectorState.IDLE

# Without a vehicle, faulted or not answering: no current whatever the capacity.
_MAY_CHARGE = (ConnectorState.WAITING, ConnectorState.CHARGING, ConnectorState.PAUSED)

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


def _ramp_reason(increase_interval_s: float, settling: bool) -> str:
    if settling:
        return "waiting for a decrease to take effect"
    return f"ramp limit (1 increase / {increase_interval_s:g} s)"


@dataclass(slots=True)
class Rules:
    """One decision's admission rules, writing into its columns. ``settling``: a decrease
    elsewhere has not yet taken effect, so nothing may increase."""

    now_s: float
    settling: bool
    policy: Policy
    cols: Columns
    fallback: Limit | None  # the stale-meter fallback, if the meter is stale
    ramp_reason: str
    pause_hold: str
    ramp_hold: str

    @classmethod
    def make(
        cls, policy: Policy, cols: Columns, *, now_s: float, stale: bool, settling: bool
    ) -> Rules:
        ramp = _ramp_reason(policy.increase_interval_s, settling)
        fallback = _fallback(policy) if stale else None
        pause = f"paused: min pause {policy.min_pause_s:g} s"
        return cls(now_s, settling, policy, cols, fallback, ramp, pause, "paused: " + ramp)

    def candidate(
        self, index: int, demand: ConnectorDemand, prev: ConnectorAllocation | None
    ) -> Candidate:
        """Sets the connector's ceiling and reason (its own caps, its ramp limit)."""
        policy, now_s = self.policy, self.now_s
        prev_a, changed_s, increased_s = 0.0, _NEVER, _NEVER
        if prev is not None:
            _, prev_a, _, changed_s, increased_s, _ = prev
        since_s = now_s - changed_s
        ramp_ok = now_s - increased_s >= policy.increase_interval_s and not self.settling
        if demand.limits or self.fallback is not None:
            ceiling_a, reason = _own_cap(demand, self.fallback)
        else:
            ceiling_a, reason = demand.max_current_a, _max_limit(demand.max_current_a).source
        hold: str | None = None
        if prev_a > 0:
            if not ramp_ok and prev_a < ceiling_a:
                ceiling_a, reason = prev_a, self.ramp_reason
            group = _PROTECTED if since_s < policy.min_charge_s else _RUNNING
            if group == _RUNNING and since_s >= policy.rotation_interval_s:
                group = _DUE
            wait_s = since_s if group == _DUE else 0.0
        else:
            if since_s < policy.min_pause_s:
                hold = self.pause_hold
            elif not ramp_ok:
                hold = self.ramp_hold
            group = _WAITED if since_s >= policy.rotation_interval_s else _WAITING
            wait_s = -since_s  # longest wait first
        self.cols.ceiling_a[index] = ceiling_a
        self.cols.reason[index] = reason
        start_s = demand.session_start_s
        energy_wh, cid = demand.session_energy_wh, demand.connector_id
        key = (
            -demand.priority,
            group,
            wait_s,
            energy_wh,
            now_s if start_s is None else start_s,
            cid,
        )
        return key, index, hold


def classify(demands: Sequence[ConnectorDemand], rules: Rules) -> tuple[list[Candidate], list[int]]:
    """Connectors that may charge, in admission order, and the indices of the others, which get
    their 0 and its reason in the columns."""
    found: list[Candidate] = []
    others: list[int] = []
    make, before, reasons = rules.candidate, rules.cols.before, rules.cols.reason
    for index, demand in enumerate(demands):
        if demand.state in _MAY_CHARGE and demand.enabled and demand.charger_enabled:
            found.append(make(index, demand, before[index]))
            continue
        if demand.state is _UNAVAILABLE:
            reasons[index] = f"not answering → assumed {demand.max_current_a:g} A"
        else:
            reasons[index] = idle_reason(demand) or ""
        others.append(index)
    found.sort(key=operator.itemgetter(0))
    return found, others
