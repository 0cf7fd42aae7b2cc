"""Reads a parent scenario: the parent's site, its children, and steps of reports, grid readings
and expectations (see scenarios/*.yaml; one file per case, named after it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_controller.domain.balancing import DemandState, Policy, Site
from edge_controller.domain.gateways import (
    ChildDemand,
    ChildFeeder,
    DemandEntry,
    ParentSetup,
    ParentTiming,
    gateway_site,
)


@dataclass
class Step:
    now_s: float
    grid_a: tuple[float, float, float] | None
    reports: dict[str, dict[str, Any]]  # child -> its demand (applied: "latest" confirms)
    silent: list[str]  # children whose report stops arriving from this step on
    cap_a: float | None = None  # a cap on the grid limit in force (the operator's)
    published: dict[str, list[float]] = field(default_factory=dict)
    not_published: list[str] = field(default_factory=list)
    counted: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    setup: ParentSetup
    steps: list[Step]


def load(path: Path) -> Scenario:
    data = yaml.safe_load(path.read_text())
    site_data = data["site"]
    if site_data.get("phase_limits_a") is not None:
        site_data["phase_limits_a"] = tuple(site_data["phase_limits_a"])
    site = Site(**site_data)
    children = tuple(
        ChildFeeder(cid, c["limit_a"], c.get("parent"), c["safe_budget_a"], c.get("lease_s", 10))
        for cid, c in data["children"].items()
    )
    policy = Policy(**data.get("policy", {}))
    # A scenario's reports arrive as they are made, unless its timing says otherwise: the
    # delay a report may take is the properties' to vary.
    timing = ParentTiming(**({"report_delay_s": 0.0} | data.get("timing", {})))
    setup = ParentSetup(gateway_site(site, children), children, policy, timing)
    steps = [
        Step(
            now_s=float(s["now_s"]),
            grid_a=tuple(s["grid_a"]) if s.get("grid_a") is not None else None,  # type: ignore[arg-type]
            reports=s.get("reports") or {},
            silent=s.get("silent") or [],
            cap_a=s.get("cap_a"),
            published=(s.get("expect") or {}).get("published") or {},
            not_published=(s.get("expect") or {}).get("not_published") or [],
            counted=(s.get("expect") or {}).get("counted") or {},
            notes=(s.get("expect") or {}).get("notes") or [],
        )
        for s in data["steps"]
    ]
    return Scenario(setup, steps)


def demand(child_id: str, body: dict[str, Any], applied: tuple[str, int] | None) -> ChildDemand:
    entries = tuple(
        DemandEntry(
            connector_id=c["id"],
            state=DemandState(c.get("state", "charging")),
            wiring=tuple(c.get("wiring", [0, 1, 2])),
            ev_phases=c.get("ev_phases"),
            min_current_a=c.get("min_a", 6.0),
            max_current_a=c.get("max_a", 32.0),
            priority=c.get("priority", 0),
            measured_current_a=tuple(c["measured_a"]) if "measured_a" in c else None,  # type: ignore[arg-type]
        )
        for c in body.get("connectors", [])
    )
    budget_a = tuple(body.get("budget_a", [0.0, 0.0, 0.0]))
    draw = [0.0, 0.0, 0.0]
    for entry in entries:
        for conn_phase, grid_phase in enumerate(entry.wiring):
            draw[grid_phase] += (entry.measured_current_a or (0.0, 0.0, 0.0))[conn_phase]
    return ChildDemand(child_id, 0.0, applied, budget_a, (draw[0], draw[1], draw[2]), entries)  # type: ignore[arg-type]
