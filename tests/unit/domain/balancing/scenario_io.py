"""Reads one balancing scenario file (tests/unit/domain/balancing/scenarios/<case>.yaml).

A scenario is one or more steps; each step gives the time, grid reading and connectors, and what
to expect. The allocation of one step is the ``previous`` of the next, so hysteresis, rotation and
ramp limits can be written down as a story.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_controller.domain.balancing import (
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    Policy,
    Site,
)
from edge_controller.domain.model import Limit

WIRING = {"L1L2L3": (0, 1, 2), "L2L3L1": (1, 2, 0), "L3L1L2": (2, 0, 1), "L1": (0,), "L2": (1,)}
WIRING["L3"] = (2,)


@dataclass
class Expect:
    current_a: float | None = None
    reason: str | None = None  # a substring of the reason
    reason_is: str | None = None  # the whole reason, as shown to people
    at_least_a: float | None = None


@dataclass
class Step:
    now_s: float
    grid: GridReading | None
    demands: list[ConnectorDemand]
    expect: dict[str, Expect] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # each a substring of one of the notes
    notes_are: list[str] | None = None  # the notes, all of them


@dataclass
class Scenario:
    name: str
    site: Site
    policy: Policy
    steps: list[Step]


def _demand(raw: dict[str, Any]) -> ConnectorDemand:
    measured = raw.get("measured_current_a")
    return ConnectorDemand(
        connector_id=raw["id"],
        state=DemandState(raw.get("state", "charging")),
        wiring=WIRING[raw.get("wiring", "L1L2L3")],
        feeder=raw.get("feeder"),
        ev_phases=raw.get("ev_phases"),
        min_current_a=float(raw.get("min_current_a", 6.0)),
        max_current_a=float(raw.get("max_current_a", 32.0)),
        limits=tuple(Limit(float(a), src) for src, a in raw.get("limits", {}).items()),
        measured_current_a=tuple(measured) if measured is not None else None,
        priority=int(raw.get("priority", 0)),
        session_start_s=raw.get("session_start_s"),
        session_energy_wh=float(raw.get("session_energy_wh", 0.0)),
        enabled=bool(raw.get("enabled", True)),
    )


def _step(raw: dict[str, Any], connectors: list[dict[str, Any]]) -> Step:
    grid_raw = raw.get("grid")
    grid = None
    if grid_raw is not None:
        a, b, c = (float(value) for value in grid_raw["current_a"])
        grid = GridReading((a, b, c), float(grid_raw["at_s"]))
    changes = raw.get("connectors", {})
    demands = [_demand({**base, **changes.get(base["id"], {})}) for base in connectors]
    expect = {cid: Expect(**exp) for cid, exp in raw.get("expect", {}).items()}
    notes_are = raw.get("notes_are")
    return Step(
        float(raw["now_s"]),
        grid,
        demands,
        expect,
        list(raw.get("notes", [])),
        None if notes_are is None else list(notes_are),
    )


def load(path: Path) -> Scenario:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    site_raw = raw["site"]
    feeders = tuple(
        Feeder(fid, float(f["limit_a"]), f.get("parent"))
        for fid, f in site_raw.get("feeders", {}).items()
    )
    site = Site(
        grid_limit_a=float(site_raw["grid_limit_a"]),
        feeders=feeders,
        power_limit_w=site_raw.get("power_limit_w"),
        phase_limits_a=tuple(site_raw["phase_limits_a"]) if "phase_limits_a" in site_raw else None,
    )
    policy = Policy(**raw.get("policy", {}))
    steps = [_step(step, raw["connectors"]) for step in raw["steps"]]
    return Scenario(path.stem, site, policy, steps)
