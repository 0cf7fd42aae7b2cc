"""`scan` and `selftest` while the real daemon runs the simulated site: they go through its
status socket and its own buses, and its control keeps going meanwhile: a building-load step
during the scan is corrected as fast as without one, and the grid stays in its limit. The
scan's run is watched where an operator sees it, the console's commissioning state."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.checks import MEASUREMENT_TOLERANCE_A, describe, grid_a
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.overload import overload_step, ramped
from tests.e2e.site import CONNECTORS
from tests.e2e.test_balancing import OVERLOAD_BOUND_S
from tests.e2e.test_web_console import PASSWORDS, base, console_config, login

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# 57 silent units at 0.2 s: the scan takes about 29 s on a quiet machine (the daemon's own
# requests go first), so it outlasts an overload step tried twice (a clean-clone run saw a
# scan of 30 units, about 12 s, end before such a step was corrected)
SCAN_UNITS = "1-60"
# 14 A of building load on every phase overloads the ramped site and leaves room for every
# EV's minimum (30 A on L1 and L3).
BASE_A, STEP_A = 5.0, 14.0


async def cli(site: E2ESite, *args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_controller", *args, "--config", str(site.config_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def watch_limit(site: E2ESite, limit_a: float, worst: list[float]) -> None:
    """Until cancelled: the grid's highest phase, sampled; after an overload is corrected
    nothing above the limit may be seen again."""
    while True:
        worst.append(max(grid_a(await site.state())))
        await asyncio.sleep(0.2)


async def test_scan_and_selftest_through_the_daemon_while_it_keeps_the_grid_limit(
    launch: Launch, config: dict[str, Any], tmp_path: Path
) -> None:
    limit_a = float(config["site"]["grid_limit_a"])
    site = await launch(console_config(config, tmp_path), plugged=CONNECTORS)
    await ramped(site, limit_a, within_a=(STEP_A - BASE_A) / 2)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as console:
        await login(console, base(config), "eve", PASSWORDS["eve"])
        await _scan_and_selftest(site, limit_a, console, base(config))


async def scan_running(console: aiohttp.ClientSession, url: str) -> bool:
    """Whether a scan runs through the daemon, as the console's commissioning state has it (a
    probe in the daemon's device views is no sign: a unit that does not answer leaves them as
    its one request ends, and of 476 polls over a scan on a loaded machine four saw one)."""
    async with console.get(f"{url}/console/commissioning/state") as response:
        assert response.status == 200, await response.text()
        run = await response.json()
    return run is not None and run["kind"] == "scan" and run["finished_s"] is None


async def _scan_and_selftest(
    site: E2ESite, limit_a: float, console: aiohttp.ClientSession, url: str
) -> None:
    scan = await cli(site, "scan", "--bus", "rs485", "--units", SCAN_UNITS,
                     "--timeout-s", "0.2", "--json")  # fmt: skip
    selftest: asyncio.subprocess.Process | None = None

    async def probing() -> bool:
        return await scan_running(console, url)

    worst: list[float] = []
    watching: asyncio.Task[None] | None = None
    try:
        # A generous wait: on a loaded machine the command alone took over 15 s to start.
        await eventually(probing, "the daemon scanning the line", 60.0)
        took_s = await overload_step(site, limit_a, (BASE_A, STEP_A), OVERLOAD_BOUND_S)
        assert scan.returncode is None, "the scan ended before the overload was corrected"
        print(f"overload corrected in {took_s:.2f} s during a scan")
        watching = asyncio.create_task(watch_limit(site, limit_a, worst))
        out, err = await asyncio.wait_for(scan.communicate(), 120)
        selftest = await cli(site, "selftest", "--json")
        report_out, report_err = await asyncio.wait_for(selftest.communicate(), 90)
    finally:
        if watching is not None:
            watching.cancel()
        # A failed step leaves no command running into the next test (its pipes, closed with
        # that test's event loop, failed a later test).
        for process in (scan, selftest):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
    assert scan.returncode == 0, err.decode()
    assert "the daemon owns bus rs485" in err.decode()
    result = json.loads(out)
    print(f"scan of {result['probes']} units through the daemon: {result['elapsed_s']} s")
    found = {d["unit"]: d["profile"] for d in result["devices"]}
    assert found == {
        1: "heidelberg_energy_control",
        2: "heidelberg_energy_control",
        10: "eastron_sdm630",
    }
    assert max(worst) <= limit_a + MEASUREMENT_TOLERANCE_A, describe(await site.state())

    assert "the read-only items run through it" in report_err.decode()
    report = json.loads(report_out)
    items = {item["name"]: item for item in report["items"]}
    for connector_id in CONNECTORS:
        assert items[f"charger {connector_id} answers"]["status"] == "pass"
        setpoint = items[f"charger {connector_id} takes a setpoint and reads it back"]
        assert setpoint["status"] == "skip" and "needs the daemon stopped" in setpoint["seen"]
    assert items["meter grid answers with plausible values"]["status"] == "pass"
    failed = [item for item in report["items"] if item["status"] == "fail"]
    assert selftest.returncode == (1 if failed else 0), failed
    # The daemon still drives the site after both: the EVs charge, the grid is in its limit.
    state = await site.state()
    assert max(grid_a(state)) <= limit_a + MEASUREMENT_TOLERANCE_A, describe(state)
