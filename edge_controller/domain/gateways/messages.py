"""The two messages between gateways, as JSON with units in field names and UTC Unix times.

A **budget** goes from the parent to one child (retained): what the child may draw per grid
phase (and in total power, if the parent has a power limit), under a version and a lease. A
**demand** goes from a child to the parent: what each of its connectors wants, in the terms the
parent's allocation takes (wiring, EV phases, minimum, own cap, priority, measured current),
with the budget version the child applies. Both are bounded in size and checked field by field;
a bad one raises ``MessageError`` naming the field, and nothing of it is used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_controller.domain.balancing import ConnectorDemand, DemandState
from edge_controller.domain.model import Phases3

MAX_BUDGET_BYTES = 2048
MAX_DEMAND_BYTES = 256 * 1024
MAX_DEMAND_CONNECTORS = 1000
MAX_CURRENT_A = 6300.0  # the largest grid limit a site may have
MAX_LEASE_S = 3600.0
MAX_DRAW_AGE_S = 60.0
MAX_LOWEST_SPAN_S = 3600.0
# A child's demand is worth sending only this soon after its making (the link drops it after,
# and the next one, made fresh, follows): a parent places its draw by its arrival, and a
# report sent late would be taken for newer than it is.
DEMAND_SEND_WITHIN_S = 0.5
DEMAND_TRANSIT_S = 0.5  # from the child's link to the parent's, at most (a LAN broker)
DEMAND_DELAY_S = DEMAND_SEND_WITHIN_S + DEMAND_TRANSIT_S  # from making to arrival, at most
_ID_CHARS = 64
_WANTING = {s.value: s for s in (DemandState.WAITING, DemandState.CHARGING, DemandState.PAUSED)}


class MessageError(ValueError):
    """A message that is not used: too large, not JSON, or a field missing or out of range."""


@dataclass(frozen=True, slots=True)
class BudgetMessage:
    """``epoch`` names one run of the parent; ``version`` grows with every budget of that run.
    ``issued_at_s`` is the parent's wall clock; ``lease_s`` how long the budget holds;
    ``safe_budget_a``: the safe budget configured for the child at the parent: a child whose
    own is higher falls back to this one once it has heard it (None from a parent that does not
    say, as before this field)."""

    child_id: str
    current_a: Phases3
    power_w: float | None
    epoch: str
    version: int
    issued_at_s: float
    lease_s: float
    safe_budget_a: float | None = None


@dataclass(frozen=True, slots=True)
class DemandEntry:
    """One connector of a child that wants current; ``wiring`` in grid phases."""

    connector_id: str
    state: DemandState
    wiring: tuple[int, ...]
    ev_phases: int | None
    min_current_a: float
    max_current_a: float
    priority: int
    measured_current_a: Phases3 | None


@dataclass(frozen=True, slots=True)
class ChildDemand:
    """``applied``: the (epoch, version) of the budget the child runs on, None: its safe
    budget; ``budget_a``: the most it may draw now per grid phase, the highest budget it ran on
    within the time its EVs take to follow a lowering (a parent that restarted counts it);
    ``draw_a``: what all its connectors draw, per grid phase, as measured ``draw_age_s`` before
    it was sent (the parent pairs it with a grid reading of that moment); ``lowest_draw_a``:
    the lowest draw per grid phase the child measured over the ``lowest_span_s`` up to then,
    from ``DEMAND_DELAY_S`` before its previous report's draw (what the parent may take off a
    grid reading of that span: placed by its arrival, a span may be up to that delay late;
    None from a child that does not say, as before this field); ``highest_draw_a``: the
    highest over the same span (what the parent may take off a grid reading to tell a rise of
    the building for sure; None from a child that does not say); ``safe_budget_a``: the
    child's own safe budget per grid phase (within its feeder), what it falls back to before
    it has heard from a parent, and ``fallback_a`` what it falls back to now (the lower of that
    and the one its parent last said it counts it at); both None from a child that does not
    say, as before these fields. ``failsafe_a``: what its chargers draw at most per grid phase
    on their own fail-safe currents, once it stops telling them (it crashed, or stopped): the
    parent counts it at no less (None from a child that does not say). ``instance``: names
    this run of the child's daemon (two running as one child show as two instances; None from
    a child that does not say)."""

    child_id: str
    sent_at_s: float
    applied: tuple[str, int] | None
    budget_a: Phases3
    draw_a: Phases3
    connectors: tuple[DemandEntry, ...]
    draw_age_s: float = 0.0
    lowest_draw_a: Phases3 | None = None
    lowest_span_s: float = 0.0
    highest_draw_a: Phases3 | None = None
    safe_budget_a: float | None = None
    fallback_a: float | None = None
    failsafe_a: Phases3 | None = None
    instance: str | None = None


def encode_budget(budget: BudgetMessage) -> bytes:
    return _dump(
        {
            "child_id": budget.child_id,
            "current_a": list(budget.current_a),
            "power_w": budget.power_w,
            "epoch": budget.epoch,
            "version": budget.version,
            "issued_at_s": budget.issued_at_s,
            "lease_s": budget.lease_s,
        }
        | ({} if budget.safe_budget_a is None else {"safe_budget_a": budget.safe_budget_a})
    )


def parse_budget(payload: bytes, child_id: str) -> BudgetMessage:
    """The budget in ``payload`` for ``child_id``; ``MessageError`` if it is not one."""
    data = _load(payload, MAX_BUDGET_BYTES)
    if data.get("child_id") != child_id:
        raise MessageError(f"child_id: {data.get('child_id')!r} is not this child ({child_id})")
    power = data.get("power_w")
    return BudgetMessage(
        child_id=child_id,
        current_a=_phases(data.get("current_a"), "current_a"),
        power_w=None if power is None else _number(power, "power_w", 0.0, math.inf),
        epoch=_ident(data.get("epoch"), "epoch"),
        version=_int(data.get("version"), "version", 0, 2**63),
        issued_at_s=_number(data.get("issued_at_s"), "issued_at_s", 0.0, math.inf),
        lease_s=_number(data.get("lease_s"), "lease_s", 0.0, MAX_LEASE_S, open_low=True),
        # Optional: a parent of an earlier version does not say.
        safe_budget_a=_optional(data, "safe_budget_a"),
    )


def draw_of(demands: Sequence[ConnectorDemand]) -> Phases3:
    """What the connectors draw together per grid phase, as measured."""
    draw = [0.0, 0.0, 0.0]
    for demand in demands:
        measured = _non_negative(demand.measured_current_a)
        if measured is not None and demand.state is not DemandState.UNAVAILABLE:
            for conn_phase, grid_phase in enumerate(demand.wiring):
                draw[grid_phase] += measured[conn_phase]
    return (draw[0], draw[1], draw[2])


def demand_of(
    child_id: str,
    demands: Sequence[ConnectorDemand],
    budget: tuple[tuple[str, int] | None, Phases3],
    sent_at_s: float,
    *,
    draw_age_s: float = 0.0,
    lowest: tuple[Phases3, float] | None = None,
    highest: Phases3 | None = None,
    safe: tuple[float, float] | None = None,
    failsafe_a: Phases3 | None = None,
    instance: str | None = None,
) -> ChildDemand:
    """A child's demand from its connectors' demands: the ones that want current and could
    take at least their minimum under their own caps; ``draw_a`` sums every measured one.
    ``budget``: the (epoch, version) the child runs on (None: its safe budget) and the most it
    may draw now (see ``ChildDemand``); ``lowest``: the lowest draw measured and over how long
    before this one (this one counts too); ``highest``: the highest over that span (sent only
    with ``lowest``); ``safe``: the child's own safe budget and what it falls back to now;
    ``failsafe_a``: what its chargers draw on their fail-safe currents; ``instance``: this
    run of the child's daemon."""
    entries: list[DemandEntry] = []
    for demand in demands:
        measured = _non_negative(demand.measured_current_a)
        cap_a = min([demand.max_current_a, *(limit.current_a for limit in demand.limits)])
        if not (demand.state.wants_current and demand.enabled and demand.charger_enabled):
            continue
        if cap_a < demand.min_current_a:
            continue
        entries.append(
            DemandEntry(
                demand.connector_id,
                demand.state,
                demand.wiring,
                demand.ev_phases,
                demand.min_current_a,
                cap_a,
                demand.priority,
                measured,
            )
        )
    applied, budget_a = budget
    draw_a = draw_of(demands)
    age_s = min(max(draw_age_s, 0.0), MAX_DRAW_AGE_S)
    lowest_a, span_s, highest_a = None, 0.0, None
    if lowest is not None:
        a, b, c = (max(0.0, min(lowest[0][p], draw_a[p])) for p in range(3))
        lowest_a, span_s = (a, b, c), min(max(lowest[1], 0.0), MAX_LOWEST_SPAN_S)
        if highest is not None:
            highest_a = _at_least(highest, draw_a)
    return ChildDemand(
        child_id,
        sent_at_s,
        applied,
        budget_a,
        draw_a,
        tuple(entries),
        age_s,
        lowest_a,
        span_s,
        highest_a,
        None if safe is None else safe[0],
        None if safe is None else safe[1],
        failsafe_a,
        instance,
    )


def _at_least(highest_a: Phases3, draw_a: Phases3) -> Phases3:
    """A highest draw over a span that ends with ``draw_a``: never below that draw."""
    a, b, c = (max(highest_a[p], draw_a[p]) for p in range(3))
    return (a, b, c)


def _non_negative(current_a: Phases3 | None) -> Phases3 | None:
    """A meter's noise around zero reads slightly negative; a demand carries no negatives."""
    if current_a is None:
        return None
    a, b, c = (max(0.0, value) for value in current_a)
    return (a, b, c)


def encode_demand(demand: ChildDemand) -> bytes:
    applied = demand.applied
    return _dump(
        {
            "child_id": demand.child_id,
            "sent_at_s": demand.sent_at_s,
            "budget": None if applied is None else {"epoch": applied[0], "version": applied[1]},
            "budget_a": list(demand.budget_a),
            "draw_a": list(demand.draw_a),
            "draw_age_s": demand.draw_age_s,
            "connectors": [_entry_json(e) for e in demand.connectors],
        }
        | (
            {}
            if demand.lowest_draw_a is None
            else {
                "lowest_draw_a": list(demand.lowest_draw_a),
                "lowest_span_s": demand.lowest_span_s,
            }
        )
        | ({} if demand.highest_draw_a is None else {"highest_draw_a": list(demand.highest_draw_a)})
        | (
            {}
            if demand.safe_budget_a is None or demand.fallback_a is None
            else {"safe_budget_a": demand.safe_budget_a, "fallback_a": demand.fallback_a}
        )
        | ({} if demand.failsafe_a is None else {"failsafe_a": list(demand.failsafe_a)})
        | ({} if demand.instance is None else {"instance": demand.instance})
    )


def _entry_json(entry: DemandEntry) -> dict[str, Any]:
    measured = entry.measured_current_a
    return {
        "id": entry.connector_id,
        "state": entry.state.value,
        "wiring": list(entry.wiring),
        "ev_phases": entry.ev_phases,
        "min_a": entry.min_current_a,
        "max_a": entry.max_current_a,
        "priority": entry.priority,
        "measured_a": None if measured is None else list(measured),
    }


def parse_demand(payload: bytes, child_id: str) -> ChildDemand:
    """The demand in ``payload`` from ``child_id`` (the topic it came on names the child)."""
    data = _load(payload, MAX_DEMAND_BYTES)
    if data.get("child_id") != child_id:
        raise MessageError(f"child_id: {data.get('child_id')!r} does not match its topic")
    budget = data.get("budget")
    applied = None
    if budget is not None:
        if not isinstance(budget, dict):
            raise MessageError("budget: must be an object or null")
        applied = (
            _ident(budget.get("epoch"), "budget.epoch"),
            _int(budget.get("version"), "budget.version", 0, 2**63),
        )
    connectors = data.get("connectors")
    if not isinstance(connectors, list) or len(connectors) > MAX_DEMAND_CONNECTORS:
        raise MessageError(f"connectors: must be a list of at most {MAX_DEMAND_CONNECTORS}")
    entries = tuple(_entry(item, f"connectors[{n}]") for n, item in enumerate(connectors))
    if len({e.connector_id for e in entries}) != len(entries):
        raise MessageError("connectors: a connector is named twice")
    draw_a = _phases(data.get("draw_a"), "draw_a")
    lowest_a = data.get("lowest_draw_a")
    if lowest_a is not None:  # a lower bound of the draw: never above the draw itself
        low = _phases(lowest_a, "lowest_draw_a")
        lowest_a = (min(low[0], draw_a[0]), min(low[1], draw_a[1]), min(low[2], draw_a[2]))
    highest_a = data.get("highest_draw_a")
    if highest_a is not None:  # an upper bound over the span that ends with the draw
        highest_a = _at_least(_phases(highest_a, "highest_draw_a"), draw_a)
    return ChildDemand(
        child_id=child_id,
        sent_at_s=_number(data.get("sent_at_s"), "sent_at_s", 0.0, math.inf),
        applied=applied,
        budget_a=_phases(data.get("budget_a"), "budget_a"),
        draw_a=draw_a,
        connectors=entries,
        draw_age_s=_number(data.get("draw_age_s", 0.0), "draw_age_s", 0.0, MAX_DRAW_AGE_S),
        # Optional: a child of an earlier version does not send them.
        lowest_draw_a=lowest_a,
        lowest_span_s=_number(
            data.get("lowest_span_s", 0.0), "lowest_span_s", 0.0, MAX_LOWEST_SPAN_S
        ),
        highest_draw_a=highest_a,
        # Optional: a child of an earlier version does not say (its parent counts it at the
        # safe budget configured for it).
        safe_budget_a=_optional(data, "safe_budget_a"),
        fallback_a=_optional(data, "fallback_a"),
        failsafe_a=None
        if data.get("failsafe_a") is None
        else _phases(data["failsafe_a"], "failsafe_a"),
        instance=None if data.get("instance") is None else _ident(data["instance"], "instance"),
    )


def _optional(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return None if value is None else _number(value, key, 0.0, MAX_CURRENT_A)


def _entry(item: Any, where: str) -> DemandEntry:
    if not isinstance(item, dict):
        raise MessageError(f"{where}: must be an object")
    state = _WANTING.get(item.get("state"))
    if state is None:
        raise MessageError(f"{where}.state: must be one of {', '.join(_WANTING)}")
    wiring = item.get("wiring")
    if (
        not isinstance(wiring, list)
        or len(wiring) not in (1, 3)
        or len(set(wiring)) != len(wiring)
        or not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 2 for p in wiring)
    ):
        raise MessageError(f"{where}.wiring: must be 1 or 3 distinct grid phases 0..2")
    ev_phases = item.get("ev_phases")
    if ev_phases is not None:
        ev_phases = _int(ev_phases, f"{where}.ev_phases", 1, 3)
    min_a = _number(item.get("min_a"), f"{where}.min_a", 0.0, MAX_CURRENT_A)
    max_a = _number(item.get("max_a"), f"{where}.max_a", min_a, MAX_CURRENT_A)
    measured = item.get("measured_a")
    return DemandEntry(
        connector_id=_ident(item.get("id"), f"{where}.id"),
        state=state,
        wiring=tuple(wiring),
        ev_phases=ev_phases,
        min_current_a=min_a,
        max_current_a=max_a,
        priority=_int(item.get("priority"), f"{where}.priority", 0, 9),
        measured_current_a=None if measured is None else _phases(measured, f"{where}.measured_a"),
    )


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def _load(payload: bytes, max_bytes: int) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise MessageError(f"payload: {len(payload)} bytes, more than {max_bytes}")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError(f"payload: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MessageError("payload: not a JSON object")
    return data


def _number(value: Any, what: str, low: float, high: float, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MessageError(f"{what}: must be a number")
    number = float(value)
    if not math.isfinite(number) or number < low or (open_low and number <= low) or number > high:
        raise MessageError(f"{what}: {value!r} out of range")
    return number


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MessageError(f"{what}: must be a whole number from {low} to {high}")
    return value


def _ident(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _ID_CHARS:
        raise MessageError(f"{what}: must be a text of 1 to {_ID_CHARS} characters")
    return value


def _phases(value: Any, what: str) -> Phases3:
    if not isinstance(value, list) or len(value) != 3:
        raise MessageError(f"{what}: must be a list of three currents")
    a, b, c = (_number(v, what, 0.0, MAX_CURRENT_A) for v in value)
    return (a, b, c)
