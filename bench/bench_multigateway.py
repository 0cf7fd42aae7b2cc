"""Several gateways behind one grid connection, as real processes (tests/e2e/gateways.py: a
parent with the grid meter, two children with two EVs each, a real Mosquitto, the simulator).

``budget_to_setpoint_ms``: from a lowered budget reaching the broker's subscribers (an observer
subscribed beside the child) to the simulated charger showing the child's new setpoint, over
building-load steps that make the parent lower the children (increases are held on purpose by
the children's own hysteresis, so they are not timed). ``grid_overshoot_as``: ampere-seconds
above the grid limit on the worst phase, the grid meter sampled every 0.1 s, over each failure
scenario of the end-to-end tests (must be 0).
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

from edge_controller.drivers.modbus.stats import percentile
from tests.e2e.gateways import (
    CONNECTORS,
    SHARE_SLACK_A,
    SHARED,
    Gateways,
    parent_and_broker_failures,
    sharing_ramping_and_cut_off,
    three_gateways,
)
from tests.integration.mqtt.broker import USERS, Mosquitto

STEPS = 8
LOW_BASE_A, HIGH_BASE_A = 2.0, 14.0
RESOLUTION_A = 0.5
SCENARIOS = {
    "sharing_ramping_cut_off": sharing_ramping_and_cut_off,
    "parent_killed_broker_restarted": parent_and_broker_failures,
}


def _observer(broker: Mosquitto) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="edge",
        password=USERS["edge"],
        identifier="bench-observer",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=5.0,
    )


async def _setpoint_after(gateways: Gateways, sent_s: float, expected_a: float) -> float | None:
    """Milliseconds from ``sent_s`` until hall-a's chargers are offered ``expected_a`` or less;
    None if they already were when looked at first (nothing to write, or looked at too late to
    time it) or never are."""
    first = True
    deadline = sent_s + 10.0
    while time.monotonic() < deadline:
        offers = await gateways.offers()
        if all(offers[c] <= expected_a + 0.01 for c in CONNECTORS["hall-a"]):
            return None if first else (time.monotonic() - sent_s) * 1000
        first = False
        await asyncio.sleep(0.01)
    return None


Budgets = asyncio.Queue[tuple[float, float]]  # (arrived, lowest phase of the budget)


async def _receive(client: aiomqtt.Client, into: Budgets) -> None:
    """Each budget with the moment it arrived, so a slow measurement does not delay the next."""
    async for message in client.messages:
        budget_a = min(json.loads(bytes(message.payload))["current_a"])
        into.put_nowait((time.monotonic(), budget_a))


async def _lowerings(gateways: Gateways, budgets: Budgets) -> list[float]:
    """Building-load steps up and down; each budget lowered times its round trip."""
    assert gateways.control is not None
    samples: list[float] = []
    last_a = math.inf
    for step in range(STEPS * 2):
        base_a = HIGH_BASE_A if step % 2 == 0 else LOW_BASE_A
        await gateways.control.set_base_load(base_a, base_a, base_a)
        ends_s = time.monotonic() + 10.0
        while (left_s := ends_s - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left_s):
                    arrived_s, budget_a = await budgets.get()
            except TimeoutError:
                break
            if budget_a < last_a - 0.4:
                share_a = math.floor(min(16.0, budget_a / 2) / RESOLUTION_A) * RESOLUTION_A
                took_ms = await _setpoint_after(gateways, arrived_s, share_a)
                if took_ms is not None:
                    samples.append(took_ms)
            last_a = budget_a
    return samples


async def _round_trips(gateways: Gateways, broker: Mosquitto) -> list[float]:
    budgets: Budgets = asyncio.Queue()
    async with _observer(broker) as client, asyncio.TaskGroup() as group:
        await client.subscribe("edge/gateways/budget/hall-a", qos=1)
        receiver = group.create_task(_receive(client, budgets))
        await gateways.plug("hall-a")
        await gateways.plug("hall-b")
        await gateways.reach(SHARED, "both children share the grid", below_a=SHARE_SLACK_A)
        while not budgets.empty():
            budgets.get_nowait()
        samples = await _lowerings(gateways, budgets)
        receiver.cancel()
    return samples


async def _scenario(name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        async with three_gateways(Path(tmp), show_logs=False) as (gateways, broker):
            await gateways.start()
            started_s = time.monotonic()
            await gateways.watched(SCENARIOS[name](gateways, broker))
            watch = gateways.watch
            return {
                "metric": "grid_overshoot_as",
                "scenario": name,
                "value": round(watch.overshoot_as, 3),
                "highest_grid_a": round(watch.highest_a, 2),
                "limit_a": watch.limit_a,
                "grid_samples": len(watch.samples),
                "took_s": round(time.monotonic() - started_s, 1),
                "target": 0.0,
            }


async def _latency() -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        async with three_gateways(Path(tmp), show_logs=False) as (gateways, broker):
            await gateways.start()
            return await _round_trips(gateways, broker)


def run() -> list[dict[str, Any]]:
    samples = sorted(asyncio.run(_latency()))
    rows: list[dict[str, Any]] = [
        {
            "metric": "budget_to_setpoint_ms",
            "samples": len(samples),
            "p50_ms": round(statistics.median(samples), 1) if samples else None,
            "p99_ms": round(percentile(samples, 0.99), 1) if samples else None,
            "max_ms": round(max(samples), 1) if samples else None,
        }
    ]
    rows += [asyncio.run(_scenario(name)) for name in SCENARIOS]
    return rows
