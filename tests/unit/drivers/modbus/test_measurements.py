"""Plausibility of meter values: implausible numbers and energy running backwards are refused."""

from __future__ import annotations

import math

from edge_controller.drivers.modbus.measurements import (
    BACKWARDS_CONFIRMATIONS,
    EnergyGuard,
    implausible,
    reading_from,
)
from edge_controller.drivers.modbus.reads import plan_reads
from edge_controller.drivers.profiles.schema import MEASUREMENT_POINTS, load_profile


def test_reading_fills_missing_phases_and_sums_power() -> None:
    reading = reading_from({"power_l1": 100.0, "power_l2": 50.0, "energy_import": 5.0}, at_s=12.0)
    assert reading.power_w == (100.0, 50.0, 0.0)
    assert reading.total_power_w == 150.0
    assert reading.import_energy_wh == 5.0 and reading.at_s == 12.0


def test_implausible_values_are_named() -> None:
    assert implausible({"voltage_l1": 230.0, "current_l1": 16.0}) is None
    assert implausible({"voltage_l1": -5.0}) == "voltage_l1 = -5 is negative"
    assert "implausible" in (implausible({"current_l2": 1e9}) or "")
    assert "implausible" in (implausible({"power_total": math.inf}) or "")


def test_energy_going_backwards_is_refused_until_confirmed() -> None:
    guard = EnergyGuard()
    assert guard.check({"energy_import": 1000.0}) is None
    assert guard.check({"energy_import": 1001.0}) is None
    reasons = [guard.check({"energy_import": 10.0}) for _ in range(BACKWARDS_CONFIRMATIONS)]
    assert all(r is not None and "backwards" in r for r in reasons[:-1])
    assert reasons[-1] is None  # a reset meter is accepted after repeated consistent readings
    assert guard.check({"energy_import": 11.0}) is None


def test_sdm630_measurements_are_read_in_one_block() -> None:
    profile = load_profile("eastron_sdm630")
    # What the meter driver reads (the model code is only read by a bus scan).
    points = [(n, p, p.address) for n, p in profile.points.items() if n in MEASUREMENT_POINTS]
    blocks = plan_reads(
        points, profile.transport.max_read_registers, profile.transport.max_hole_registers
    )
    assert [(b.table, b.start, b.count) for b in blocks] == [("input", 0, 76)]


def test_keba_registers_are_read_one_at_a_time() -> None:
    profile = load_profile("keba_kecontact_p30")
    points = [(n, p, p.address) for n, p in profile.points.items() if not p.writable]
    blocks = plan_reads(
        points, profile.transport.max_read_registers, profile.transport.max_hole_registers
    )
    assert all(b.count == 2 for b in blocks)
    assert len(blocks) == len(points)
