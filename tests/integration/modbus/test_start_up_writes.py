"""Start-up writes (Heidelberg: leave standby, 258 = 4) and watchdog settings go out once per
device, however many pollers ask at once, and once more after an outage. Counted by the
simulator, which records every request it receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.config.settings import Settings
from edge_controller.drivers import registry
from edge_controller.ports import BuiltInMeter, Charger, DeviceUnavailable, DeviceWatchdog
from edge_controller.sim.site import RunningSim, running_site
from tests.ports import free_port

pytestmark = pytest.mark.integration
WRITE_ONE = 6


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[RunningSim]:
    config = {
        "site": {"id": "init", "grid_limit_a": 63},
        "buses": {
            "lan": {
                "type": "tcp",
                "host": "127.0.0.1",
                "port": free_port(),
                "timeout_s": 0.2,
                "retries": 0,
            }
        },
        "chargers": {
            "hd": {
                "bus": "lan",
                "unit_id": 1,
                "profile": "heidelberg_energy_control",
                "max_current_a": 16,
                "simulated": True,
            }
        },
        "simulation": {"control_port": 0},
    }
    async with running_site(Settings.model_validate(config)) as running:
        yield running


def _writes(sim: RunningSim) -> int:
    return sim.site.device("hd").requests[WRITE_ONE]


async def _every_poller_at_once(wallbox: Charger) -> None:
    """What the daemon does at start: status poller, meter poller and watchdog programming."""
    assert isinstance(wallbox, BuiltInMeter) and isinstance(wallbox, DeviceWatchdog)
    await asyncio.gather(
        wallbox.read_status(), wallbox.read_meter(), wallbox.program_failsafe(7.0, 15.0)
    )


async def test_start_up_writes_go_out_once_and_again_after_an_outage(sim: RunningSim) -> None:
    settings = sim.settings
    async with registry.build_bus("lan", settings.buses["lan"]) as bus:
        [wallbox] = registry.build_charger("hd", settings.chargers["hd"], bus)
        await _every_poller_at_once(wallbox)
        device = sim.site.device("hd")
        # standby off, failsafe current, failsafe timeout: each once
        assert _writes(sim) == 3
        assert device.point_values(0.0)["standby"] == 4
        assert {name for name, _ in device.last_writes} == {
            "standby",
            "failsafe_current",
            "failsafe_timeout",
        }
        await _every_poller_at_once(wallbox)
        assert _writes(sim) == 3  # nothing again while it stays reachable

        device.inject("reboot", sim.clock(), duration_s=0.5)  # silent, then power-up values
        with pytest.raises(DeviceUnavailable):
            await wallbox.read_status()
        await asyncio.sleep(0.6)
        assert device.point_values(0.0)["standby"] == 0  # it forgot
        await asyncio.gather(wallbox.read_status(), wallbox.read_meter())
        assert _writes(sim) == 3 + 3  # the start-up writes and the watchdog settings, once each
        assert device.point_values(0.0)["standby"] == 4
        assert device.point_values(0.0)["failsafe_current"] == 7.0
