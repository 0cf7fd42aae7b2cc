"""Pricing benchmark: cost() of a 24-hour session with a register reading every minute.

The tariff has six time-of-day energy prices (one per four hours), a charging-time price and
VAT. "6 periods": the prices change only with the time of day. "1,440 periods": the power
crosses a price's power condition every minute, so every minute is its own period (the worst
case). "running cost": the cost so far at every minute of the same session, one call each, as
a display would ask for it (time per call)."""

from __future__ import annotations

import statistics
import time as clock
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from edge_controller.domain.pricing import (
    Activity,
    ActivityChange,
    Calendar,
    Conditions,
    Currency,
    EnergyPrice,
    PriceList,
    RegisterReading,
    Tariff,
    TaxRate,
    Timeline,
    TimePrice,
    cost,
)

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 10, 0, 0, tzinfo=ZONE)
RUNS = 30
VAT = (TaxRate("VAT", Decimal(19)),)


def _tariff(power_tiers: bool) -> Tariff:
    prices = []
    for block in range(6):
        window = Calendar(time(block * 4), time((block * 4 + 4) % 24))
        if power_tiers:
            fast = Conditions(window, min_power_w=Decimal(11000))
            prices.append(EnergyPrice(Decimal("0.45") + Decimal(block) / 100, fast))
        prices.append(EnergyPrice(Decimal("0.30") + Decimal(block) / 100, Conditions(window)))
    return Tariff(
        "bench",
        Currency.of("EUR"),
        energy=PriceList(tuple(prices), VAT),
        charging_time=PriceList((TimePrice(Decimal("0.01")),), VAT),
    )


def _session(alternating_power: bool) -> Timeline:
    readings = []
    register = Decimal("123456.7")
    for minute in range(24 * 60 + 1):
        power = Decimal(22000 if alternating_power and minute % 2 else 7000)
        readings.append(RegisterReading(START + timedelta(minutes=minute), register, power))
        register += power / 60
    return Timeline(
        START,
        START + timedelta(hours=24),
        tuple(readings),
        (ActivityChange(START, Activity.CHARGING),),
    )


def _percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_s, n=100)
    return round(statistics.median(samples_s) * 1000, 3), round(cuts[98] * 1000, 3)


def _row(case: str, tariff: Tariff, line: Timeline) -> dict[str, Any]:
    samples, periods = [], 0
    for _ in range(RUNS):
        started = clock.perf_counter()
        periods = len(cost(tariff, line, ZONE).periods)
        samples.append(clock.perf_counter() - started)
    p50, p99 = _percentiles_ms(samples)
    readings = len(line.readings)
    return {"case": case, "runs": RUNS, "readings": readings, "periods": periods} | {
        "p50_ms": p50,
        "p99_ms": p99,
    }


def _running_row(tariff: Tariff, line: Timeline) -> dict[str, Any]:
    samples = []
    for minute in range(0, 24 * 60 + 1, 10):
        prefix = line.prefix(START + timedelta(minutes=minute))
        started = clock.perf_counter()
        cost(tariff, prefix, ZONE)
        samples.append(clock.perf_counter() - started)
    p50, p99 = _percentiles_ms(samples)
    return {"case": "running cost every 10 min of 24 h, 6 periods", "runs": len(samples)} | {
        "readings": len(line.readings),
        "p50_ms": p50,
        "p99_ms": p99,
    }


def run() -> list[dict[str, Any]]:
    plain, tiers = _tariff(power_tiers=False), _tariff(power_tiers=True)
    steady, alternating = _session(alternating_power=False), _session(alternating_power=True)
    return [
        _row("24 h, 1-minute readings, 6 time-of-day prices", plain, steady),
        _row("24 h, 1-minute readings, price changes every minute", tiers, alternating),
        _running_row(plain, steady),
    ]
