"""Reads one pricing case (tests/unit/domain/pricing/cases/<case>.yaml).

A case is a tariff in OCPP 2.1 TariffType form (checked against the schema), a session and
the figures expected. Numbers are read as Decimal, never as float."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from edge_controller.domain.pricing import (
    Activity,
    ActivityChange,
    Component,
    CostBreakdown,
    EvseKind,
    Period,
    RegisterReading,
    ReservationSpan,
    SessionContext,
    Tariff,
    Timeline,
)
from tests.unit.domain.pricing.ocpp_tariff import tariff_from_ocpp


class DecimalLoader(yaml.SafeLoader):
    """YAML with every non-integer number as Decimal (a float would already be inexact)."""


DecimalLoader.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node))
)


@dataclass
class Case:
    name: str
    zone: ZoneInfo
    tariff: Tariff
    timeline: Timeline
    expect: dict[str, Any]


def moment(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def load(path: Path) -> Case:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=DecimalLoader)
    tariff = tariff_from_ocpp(
        raw["tariff"], raw.get("tariff_version", 1), raw.get("prices_include_tax", False)
    )
    return Case(path.stem, ZoneInfo(raw["zone"]), tariff, timeline(raw["session"]), raw["expect"])


def timeline(raw: dict[str, Any]) -> Timeline:
    changes = []
    for start, stop in raw.get("charging", ()):
        changes += [
            ActivityChange(moment(start), Activity.CHARGING),
            ActivityChange(moment(stop), Activity.IDLE),
        ]
    reservation = raw.get("reservation")
    return Timeline(
        started_at=moment(raw["start"]),
        until=moment(raw["until"]),
        readings=tuple(_reading(r) for r in raw["readings"]),
        activity=tuple(changes),
        stop_register_known=raw.get("stop_register_known", True),
        reservation=ReservationSpan(moment(reservation[0]), moment(reservation[1]))
        if reservation
        else None,
        context=SessionContext(
            evse_kind=EvseKind(raw["evse_kind"]) if "evse_kind" in raw else None,
            payment_brand=raw.get("payment_brand"),
            payment_recognition=raw.get("payment_recognition"),
        ),
    )


def _reading(raw: list[Any]) -> RegisterReading:
    """[at, register Wh, power W, current A (sum of phases)]; power and current optional."""
    at, energy, *rest = raw
    power = Decimal(rest[0]) if len(rest) > 0 and rest[0] is not None else None
    current = Decimal(rest[1]) if len(rest) > 1 else None
    return RegisterReading(moment(at), Decimal(energy), power, current)


def check_expect(breakdown: CostBreakdown, expect: dict[str, Any]) -> None:
    assert breakdown.type_of_cost.value == expect.get("type_of_cost", "normal")
    assert breakdown.total_excl_tax.amount == Decimal(expect["total_excl_tax"])
    assert breakdown.total_incl_tax.amount == Decimal(expect["total_incl_tax"])
    assert breakdown.stop_register_unknown == expect.get("stop_register_unknown", False)
    for name, (excl, incl) in expect.get("components", {}).items():
        amount = breakdown.component(Component(name))
        assert (amount.excl_tax.amount, amount.incl_tax.amount) == (Decimal(excl), Decimal(incl)), (
            name
        )
    if "taxes" in expect:
        got = {t.name: t.amount.amount for t in breakdown.taxes}
        assert got == {name: Decimal(value) for name, value in expect["taxes"].items()}
    for key, value in expect.get("usage", {}).items():
        assert getattr(breakdown.usage, key) == Decimal(str(value)), key
    if "periods" in expect:
        shown = [_shown(p) for p in breakdown.periods]
        assert len(breakdown.periods) == len(expect["periods"]), shown
        for period, wanted in zip(breakdown.periods, expect["periods"], strict=True):
            _check_period(period, wanted)


def _check_period(period: Period, wanted: dict[str, Any]) -> None:
    where = _shown(period)
    assert period.start == moment(wanted["start"]), where
    if "activity" in wanted:
        assert period.activity.value == wanted["activity"], where
    for key in ("excl_tax", "incl_tax"):
        if key in wanted:
            assert getattr(period, key).amount == Decimal(wanted[key]), where
    for key in ("energy_wh", "max_power_w", "max_current_sum_a"):
        if key in wanted:
            assert getattr(period, key) == Decimal(str(wanted[key])), where


def _shown(period: Period) -> str:
    start, activity = period.start.isoformat(), period.activity.value
    return f"{start} {activity} {period.excl_tax} {period.energy_wh} Wh"
