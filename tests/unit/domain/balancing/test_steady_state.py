"""The short cuts of a steady state: kept records, the cached limit tree, unchanged offers."""

from __future__ import annotations

import math
from typing import NoReturn

import pytest

from edge_controller.domain.balancing import (
    Allocation,
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    Site,
    allocate,
    share,
)

GRID = GridReading((0.0, 0.0, 0.0), 0.0)


def _previous(*records: ConnectorAllocation) -> Allocation:
    return Allocation(
        at_s=0.0,
        connectors={record.connector_id: record for record in records},
        building_load_a=(0.0, 0.0, 0.0),
        headroom_a=(0.0, 0.0, 0.0),
        grid_stale=False,
    )


def test_a_zero_offer_keeps_its_record_only_with_the_same_sign() -> None:
    idle = [
        ConnectorDemand("a:1", DemandState.IDLE),
        ConnectorDemand("b:1", DemandState.IDLE),
    ]
    minus = ConnectorAllocation("a:1", -0.0, "no vehicle", 5.0, 4.0, -0.0)
    plus = ConnectorAllocation("b:1", 0.0, "no vehicle", 5.0, 4.0, 0.0)
    previous = _previous(minus, plus)
    got = allocate(Site(32.0), idle, grid=GRID, previous=previous, now_s=10.0)
    assert got.connectors["b:1"] is plus  # equal in every field: the same record
    renewed = got.connectors["a:1"]
    assert renewed is not minus
    assert math.copysign(1.0, renewed.current_a) == 1.0
    assert math.copysign(1.0, renewed.assumed_current_a) == 1.0
    assert (renewed.changed_at_s, renewed.increased_at_s) == (5.0, 4.0)


def test_a_record_of_another_connector_under_the_same_key_is_replaced() -> None:
    demand = [ConnectorDemand("a:1", DemandState.CHARGING, wiring=(0,))]
    stray = ConnectorAllocation("x:1", 32.0, "max 32 A", 0.0, 0.0, 32.0)
    previous = Allocation(0.0, {"a:1": stray}, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), False)
    got = allocate(Site(63.0), demand, grid=GRID, previous=previous, now_s=100.0)
    record = got.connectors["a:1"]
    assert record.connector_id == "a:1" and record is not stray
    # (the reading is 100 s old: stale, so the fallback caps it)
    assert (record.current_a, record.reason) == (6.0, "grid meter stale → fallback 6 A")


def test_each_site_is_decided_with_its_own_limit_tree() -> None:
    # The tree of the last site is reused for that same site object only.
    demands = [
        ConnectorDemand("a:1", DemandState.CHARGING, wiring=(0,), feeder="F"),
        ConnectorDemand("b:1", DemandState.CHARGING, wiring=(0,), feeder="F"),
    ]
    wide = Site(100.0, (Feeder("F", 40.0),))
    narrow = Site(100.0, (Feeder("F", 20.0),))
    offers = []
    for site in (wide, narrow, Site(100.0, (Feeder("F", 20.0),)), wide):
        got = allocate(site, demands, grid=GRID, previous=None, now_s=0.0)
        offers.append(got.current_a("a:1"))
    assert offers == [20.0, 10.0, 10.0, 20.0]


def test_unchanged_offers_keep_every_record_and_the_headroom() -> None:
    site = Site(63.0, (Feeder("F", 40.0),))
    demands = [
        ConnectorDemand(f"c{i}:1", DemandState.CHARGING, wiring=((0,), (1,), (2,))[i % 3],
                        feeder="F" if i % 2 else None, max_current_a=16.0, priority=i % 2)
        for i in range(6)
    ]  # fmt: skip
    first = allocate(site, demands, grid=GRID, previous=None, now_s=0.0)
    second = allocate(site, demands, grid=GRID, previous=first, now_s=1.0)
    assert second == allocate(site, demands, grid=GRID, previous=first, now_s=1.0)
    assert all(second.connectors[cid] is first.connectors[cid] for cid in first.connectors)
    assert second.headroom_a == first.headroom_a


def test_a_feeder_exactly_full_at_the_caps_skips_admission_and_filling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 32 + 32 + 16 A on one phase of an 80 A feeder, two priority classes: no limit is passed,
    # so neither step may change an offer. The short cut is taken (the full steps fail here),
    # and its offers are those the full steps decide.
    site = Site(200.0, (Feeder("F", 80.0),), power_limit_w=100_000.0)
    demands = [
        ConnectorDemand(f"c{i}:1", DemandState.CHARGING, wiring=(0,), feeder="F",
                        max_current_a=max_a, priority=i % 2)
        for i, max_a in enumerate((32.0, 32.0, 16.0))
    ]  # fmt: skip
    full = allocate(site, demands, grid=GRID, previous=None, now_s=0.0)
    assert [full.current_a(d.connector_id) for d in demands] == [32.0, 32.0, 16.0]

    def refused(*args: object) -> NoReturn:
        raise AssertionError("admitted and filled in full although nothing binds")

    monkeypatch.setattr(share, "_admit", refused)
    monkeypatch.setattr(share, "fill", refused)
    assert allocate(site, demands, grid=GRID, previous=None, now_s=0.0) == full
