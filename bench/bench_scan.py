"""Bus scan benchmark: a 9600-baud RTU line, unit ids 1-247, three meters answering (the
simulator with ``wire_timing``, so every answer takes its real wire time).

Per probe timeout: the scan's elapsed time, against the wire-time model's minimum for the same
probes (from the scan's own trace: each request and answer at 11 bits per character with the
3.5-character silences; a silent unit costs only its request) and against the floor that the
timeout sets (that minimum plus one timeout per silent unit: nobody can tell silence sooner).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from edge_controller.app.scan import ScanPlan, run_scan
from edge_controller.config.settings import Settings
from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.scan import Line
from edge_controller.drivers.modbus.trace import read_trace
from edge_controller.sim.site import running_site

BAUD = 9600
UNITS = list(range(1, 248))
METERS = {"eastron_sdm630": 1, "carlo_gavazzi_em24": 100, "eastron_sdm72d": 247}


def _settings(tmp: Path) -> Settings:
    meters = {
        profile: {"bus": "rs", "unit_id": unit, "profile": profile, "simulated": True}
        for profile, unit in METERS.items()
    }
    return Settings.model_validate(
        {
            "site": {"id": "bench", "grid_limit_a": 63},
            "storage": {"state_dir": str(tmp)},
            "buses": {
                "rs": {"type": "rtu", "device": str(tmp / "tty"), "baud": BAUD, "parity": "N"}
            },
            "meters": meters,
            "simulation": {"control_port": 0, "wire_timing": True},
        }
    )


def _wire_minimum_s(trace: Path) -> tuple[float, int, int]:
    """Model minimum of the recorded probes, answered probes, silent probes."""
    total_s, answered, silent = 0.0, 0, 0
    for event in read_trace(trace).events:
        if event.outcome == "reply" and event.rx is not None:
            total_s += wiretime.transaction_s(BAUD, len(event.request), len(event.rx) - 3)
            answered += 1
        else:
            total_s += wiretime.frame_time_s(BAUD, len(event.tx)) + wiretime.silence_s(BAUD)
            silent += 1
    return total_s, answered, silent


async def _scan(timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        settings = _settings(tmp)
        trace = tmp / "scan.trace"
        async with running_site(settings):
            plan = ScanPlan(
                "rs", settings.buses["rs"], [Line(BAUD, "N", 1)], UNITS, timeout_s, trace
            )
            result = await run_scan(plan)
        minimum_s, answered, silent = _wire_minimum_s(trace)
    floor_s = minimum_s + silent * timeout_s
    return {
        "case": f"9600 baud, units 1-247, timeout {timeout_s:g} s",
        "found": len(result.found),
        "requests": answered + silent,
        "elapsed_s": round(result.elapsed_s, 2),
        "wire_minimum_s": round(minimum_s, 3),
        "floor_with_timeout_s": round(floor_s, 2),
        "elapsed_per_floor": round(result.elapsed_s / floor_s, 3),
    }


def run() -> list[dict[str, Any]]:
    return [asyncio.run(_scan(timeout_s)) for timeout_s in (0.1, 0.05)]
