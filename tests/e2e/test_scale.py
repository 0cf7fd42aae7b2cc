"""A generated 100-connector site (config/scale-100.gen.yaml) runs in the real daemon unchanged:
it starts, EVs arrive one after another, and the grid and every feeder stay under their limits
while the connection is put to use."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.sim.generate import generate_site
from tests.e2e.checks import MEASUREMENT_TOLERANCE_A, charging, describe, grid_a, plugged
from tests.e2e.launch import E2ESite, eventually
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DESCRIPTION = Path(__file__).parents[2] / "config" / "scale-100.gen.yaml"
HOLD_S = 15.0


def scale_config(workdir: Path) -> dict[str, Any]:
    description = yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8"))
    # The buses take consecutive ports: start above a port just seen free, in a quiet range.
    description["generate"]["first_port"] = 20000 + free_port() % 20000
    description["storage"] = {"state_dir": str(workdir / "state")}
    description["site"].update(increase_interval_s=1, shutdown_grace_s=3)
    return generate_site(description)


def feeder_overloads(state: dict[str, Any], config: dict[str, Any]) -> dict[str, float]:
    feeders = config["site"]["feeders"]
    over = {}
    for mid, meter in config["meters"].items():
        if meter["role"] == "feeder":
            peak_a = max(abs(float(v)) for v in state["meters"][mid]["current_a"])
            if peak_a > feeders[meter["feeder"]]["limit_a"] + MEASUREMENT_TOLERANCE_A:
                over[mid] = peak_a
    return over


async def test_generated_100_connector_site_balances_under_its_limits() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="e2e-scale-"))
    config = scale_config(workdir)
    limit_a = float(config["site"]["grid_limit_a"])
    site = E2ESite(workdir, workdir / "state", config)
    assert site.connector_count == 100
    try:
        await site.start_sim()
        await site.start_daemon()

        async def all_arrived() -> bool:
            return len(plugged(await site.state())) == 100

        await eventually(all_arrived, "every scripted EV plugged in", 60)

        async def busy() -> bool:
            state = await site.state()
            # The single-phase EVs all sit on L1: that phase is the one that binds.
            return max(grid_a(state)) >= 0.9 * limit_a and len(charging(state)) >= 40

        await eventually(busy, "the connection used by many charging EVs", 90)
        loop = asyncio.get_running_loop()
        end = loop.time() + HOLD_S
        while loop.time() < end:
            state = await site.state()
            assert max(grid_a(state)) <= limit_a + MEASUREMENT_TOLERANCE_A, describe(state)
            assert not feeder_overloads(state, config), describe(state)
            await asyncio.sleep(0.5)
    except AssertionError:
        print(site.logs())
        raise
    finally:
        await site.close()
        shutil.rmtree(workdir, ignore_errors=True)
