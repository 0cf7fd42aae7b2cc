"""The budget and demand messages: what goes out comes back the same; anything else is refused
with the field named, and nothing of it is used."""

from __future__ import annotations

import json

import pytest

from edge_controller.domain.balancing import ConnectorDemand, DemandState
from edge_controller.domain.gateways import (
    MAX_BUDGET_BYTES,
    MAX_DEMAND_BYTES,
    BudgetMessage,
    MessageError,
    demand_of,
    encode_budget,
    encode_demand,
    parse_budget,
    parse_demand,
)
from edge_controller.domain.model import Limit

BUDGET = BudgetMessage("hall-b", (20.0, 18.5, 20.0), 13_000.0, "e1", 7, 1_764_800_000.5, 10.0)


def test_budget_round_trip() -> None:
    assert parse_budget(encode_budget(BUDGET), "hall-b") == BUDGET


def _budget(**changes: object) -> bytes:
    data = json.loads(encode_budget(BUDGET))
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"not json", "payload"),
        (b"[1, 2]", "payload"),
        (b" " * (MAX_BUDGET_BYTES + 1), "payload"),
        (_budget(child_id="hall-c"), "child_id"),
        (_budget(current_a=[20, 20]), "current_a"),
        (_budget(current_a=[20, -1, 20]), "current_a"),
        (_budget(current_a=[20, 1e9, 20]), "current_a"),
        (_budget(current_a=[20, "20", 20]), "current_a"),
        (_budget(current_a=[20, True, 20]), "current_a"),
        (_budget(power_w=-5), "power_w"),
        (_budget(epoch=""), "epoch"),
        (_budget(epoch=None), "epoch"),
        (_budget(version=1.5), "version"),
        (_budget(version=-1), "version"),
        (_budget(issued_at_s=None), "issued_at_s"),
        (_budget(lease_s=0), "lease_s"),
        (_budget(lease_s=86400), "lease_s"),
        (
            json.dumps(
                {**json.loads(encode_budget(BUDGET)), "current_a": [1, 2, float("nan")]}
            ).encode(),
            "current_a",
        ),
    ],
)
def test_bad_budget_is_refused_naming_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(MessageError, match=f"^{field}"):
        parse_budget(payload, "hall-b")


def _demands() -> list[ConnectorDemand]:
    return [
        ConnectorDemand(
            "c1:1",
            DemandState.CHARGING,
            wiring=(1, 2, 0),
            measured_current_a=(10.0, 11.0, -0.05),
            limits=(Limit(16.0, "csms profile 3"),),
            priority=2,
        ),
        ConnectorDemand("c1:2", DemandState.WAITING, wiring=(0,), ev_phases=1),
        ConnectorDemand("c2:1", DemandState.IDLE, measured_current_a=(0.0, 0.0, 0.0)),
        ConnectorDemand("c2:2", DemandState.CHARGING, enabled=False),
        ConnectorDemand("c3:1", DemandState.CHARGING, limits=(Limit(3.0, "operator limit"),)),
        ConnectorDemand("c3:2", DemandState.UNAVAILABLE, measured_current_a=(30.0, 30.0, 30.0)),
    ]


def test_demand_carries_the_connectors_that_can_take_current() -> None:
    demand = demand_of("hall-b", _demands(), (("e1", 7), (20.0, 20.0, 20.0)), 100.0)
    assert [e.connector_id for e in demand.connectors] == ["c1:1", "c1:2"]
    first = demand.connectors[0]
    assert first.max_current_a == 16.0  # its own cap, the CSMS's profile included
    assert first.priority == 2
    assert first.measured_current_a == (10.0, 11.0, 0.0)  # no negative noise
    # The draw per grid phase: c1:1's L1 lands on L2, L2 on L3, L3 on L1; the silent
    # charger's old reading is not counted as a draw.
    assert demand.draw_a == pytest.approx((0.0, 10.0, 11.0))


def test_demand_round_trip() -> None:
    demand = demand_of("hall-b", _demands(), (("e1", 7), (20.0, 20.0, 20.0)), 100.0)
    assert parse_demand(encode_demand(demand), "hall-b") == demand
    safe = demand_of("hall-b", _demands(), (None, (6.0, 6.0, 6.0)), 100.0)
    assert parse_demand(encode_demand(safe), "hall-b") == safe


def test_a_demand_says_the_lowest_draw_since_the_report_before() -> None:
    """The lowest draw a child measured since its previous report goes out with it and comes
    back the same; it is never above the draw reported with it."""
    lowest = ((0.0, 4.0, 20.0), 1.5)
    demand = demand_of("hall-b", _demands(), (None, (6.0, 6.0, 6.0)), 100.0, lowest=lowest)
    assert demand.lowest_draw_a == (0.0, 4.0, 11.0)  # L3 above this draw: this draw's
    assert demand.lowest_span_s == 1.5
    assert parse_demand(encode_demand(demand), "hall-b") == demand
    # From a child that says more, the parent takes no more than the draw either.
    above = parse_demand(_demand(lowest_draw_a=[12.0, 0.0, 30.0], lowest_span_s=1.0), "hall-b")
    assert above.lowest_draw_a == tuple(
        min(v, d) for v, d in zip((12.0, 0.0, 30.0), above.draw_a, strict=True)
    )
    assert above.lowest_draw_a[2] == 11.0


def test_a_demand_says_the_highest_draw_over_the_same_span() -> None:
    """The highest draw over the span of the lowest goes out with it and comes back the same;
    it is never below the draw reported with it (that draw ends the span), and a child that
    does not say it (of the version before) sends a demand without it."""
    lowest = ((0.0, 4.0, 5.0), 1.5)
    demand = demand_of(
        "hall-b", _demands(), (None, (6.0,) * 3), 100.0, lowest=lowest, highest=(0.0, 16.0, 5.0)
    )
    assert demand.highest_draw_a == (0.0, 16.0, 11.0)  # L3 below this draw: this draw's
    assert parse_demand(encode_demand(demand), "hall-b") == demand
    below = parse_demand(_demand(highest_draw_a=[0.0, 0.0, 30.0]), "hall-b")
    assert below.highest_draw_a == (0.0, 10.0, 30.0)
    without = demand_of("hall-b", _demands(), (None, (6.0,) * 3), 100.0, lowest=lowest)
    assert "highest_draw_a" not in json.loads(encode_demand(without))
    assert parse_demand(encode_demand(without), "hall-b").highest_draw_a is None


def test_a_demand_of_either_version_is_read_by_either() -> None:
    """A child of the version before sends no lowest draw: its demand reads as one without.
    One that does keeps every field of the version before as it was: a parent of that
    version, reading only those, reads it as before."""
    lowest, highest = ((0.0, 4.0, 5.0), 1.5), (16.0, 16.0, 16.0)
    budget = (("e1", 7), (20.0, 20.0, 20.0))
    new = demand_of("hall-b", _demands(), budget, 100.0, lowest=lowest, highest=highest)
    data = json.loads(encode_demand(new))
    added = {"lowest_draw_a", "lowest_span_s", "highest_draw_a"}
    old = {k: v for k, v in data.items() if k not in added}
    parsed = parse_demand(json.dumps(old).encode(), "hall-b")
    assert parsed.lowest_draw_a is None and parsed.lowest_span_s == 0.0
    assert parsed.highest_draw_a is None
    assert parsed == demand_of("hall-b", _demands(), budget, 100.0)
    assert set(data) - set(old) == added


def _demand(**changes: object) -> bytes:
    demand = demand_of("hall-b", _demands(), (("e1", 7), (20.0, 20.0, 20.0)), 100.0)
    data = json.loads(encode_demand(demand))
    data.update(changes)
    return json.dumps(data).encode()


def _entry(**changes: object) -> bytes:
    data = json.loads(_demand())
    data["connectors"][0].update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{", "payload"),
        (b" " * (MAX_DEMAND_BYTES + 1), "payload"),
        (_demand(child_id="hall-a"), "child_id"),
        (_demand(budget=5), "budget"),
        (_demand(budget={"epoch": "e1", "version": "7"}), "budget.version"),
        (_demand(connectors={"c1:1": {}}), "connectors"),
        (_demand(connectors=[{"id": "x"}] * 1001), "connectors"),
        (_demand(draw_a=None), "draw_a"),
        (_demand(budget_a=[1, 2]), "budget_a"),
        (_demand(lowest_draw_a=[1, 2]), "lowest_draw_a"),
        (_demand(lowest_draw_a=[0, 0, 0], lowest_span_s=-1), "lowest_span_s"),
        (_demand(lowest_draw_a=[0, 0, 0], lowest_span_s=4000), "lowest_span_s"),
        (_demand(highest_draw_a=[1, 2]), "highest_draw_a"),
        (_demand(highest_draw_a=[0, -1, 0]), "highest_draw_a"),
        (_entry(state="idle"), r"connectors\[0\].state"),
        (_entry(wiring=[0, 0, 1]), r"connectors\[0\].wiring"),
        (_entry(wiring=[0, 1]), r"connectors\[0\].wiring"),
        (_entry(wiring=[3]), r"connectors\[0\].wiring"),
        (_entry(min_a=10, max_a=8), r"connectors\[0\].max_a"),
        (_entry(priority=10), r"connectors\[0\].priority"),
        (_entry(ev_phases=0), r"connectors\[0\].ev_phases"),
        (_entry(id=""), r"connectors\[0\].id"),
        (_entry(id="c1:2"), "connectors"),
    ],
)
def test_bad_demand_is_refused_naming_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(MessageError, match=f"^{field}"):
        parse_demand(payload, "hall-b")


def test_a_demand_says_the_childs_safe_budget_and_what_it_falls_back_to() -> None:
    """A child says its own safe budget and what it falls back to now; a demand without them
    (a child of a version before) reads as one that does not say, and a bad one is refused."""
    budget = (("e1", 7), (20.0, 20.0, 20.0))
    demand = demand_of("hall-b", _demands(), budget, 100.0, safe=(80.0, 32.0))
    data = json.loads(encode_demand(demand))
    assert (data["safe_budget_a"], data["fallback_a"]) == (80.0, 32.0)
    assert parse_demand(encode_demand(demand), "hall-b") == demand
    older = {k: v for k, v in data.items() if k not in ("safe_budget_a", "fallback_a")}
    parsed = parse_demand(json.dumps(older).encode(), "hall-b")
    assert parsed.safe_budget_a is None and parsed.fallback_a is None
    for field, value in [("safe_budget_a", -1), ("safe_budget_a", "80"), ("fallback_a", 1e9)]:
        with pytest.raises(MessageError, match=f"^{field}"):
            parse_demand(json.dumps({**data, field: value}).encode(), "hall-b")


def test_a_budget_says_the_safe_budget_its_child_is_counted_at() -> None:
    """The parent's budget says the safe budget it counts the child at; one without it (a
    parent of a version before) reads as one that does not say, and a bad one is refused."""
    counted = BudgetMessage("hall-b", (20.0,) * 3, None, "e1", 7, 1_764_800_000.5, 10.0, 32.0)
    assert json.loads(encode_budget(counted))["safe_budget_a"] == 32.0
    assert parse_budget(encode_budget(counted), "hall-b") == counted
    assert "safe_budget_a" not in json.loads(encode_budget(BUDGET))
    assert parse_budget(encode_budget(BUDGET), "hall-b").safe_budget_a is None
    with pytest.raises(MessageError, match=r"^safe_budget_a"):
        parse_budget(_budget(safe_budget_a=-3), "hall-b")
