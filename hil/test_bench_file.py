"""The example bench file is a valid bench: its buses, devices and profiles exist."""

from __future__ import annotations

from pathlib import Path

from edge_controller.drivers.registry import profile_kinds
from hil.bench import load_bench

EXAMPLE = Path(__file__).parent / "bench.example.yaml"


def test_the_example_bench_is_valid() -> None:
    bench = load_bench(EXAMPLE)
    assert {d.bus for d in bench.devices.values()} <= set(bench.buses)
    assert {d.profile for d in bench.devices.values()} <= set(profile_kinds())
    assert set(bench.absent_unit_ids) <= set(bench.buses)
    assert bench.ev_simulator.charger in bench.devices
