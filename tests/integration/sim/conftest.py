"""A whole simulated site on free loopback ports and a temp pty, torn down after each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edge_controller.config.settings import Settings
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.site import RunningSim, running_site
from tests.ports import free_port


def site_config(tmp_path: Path, **simulation: Any) -> dict[str, Any]:
    """Three charger models (TCP and RTU), six connectors, a grid meter on the RTU line."""
    return {
        "site": {"id": "simtest", "grid_limit_a": 63},
        "buses": {
            "lan": {"type": "tcp", "host": "127.0.0.1", "port": free_port()},
            "rs485": {
                "type": "rtu",
                "device": str(tmp_path / "ttyEV"),
                "baud": 19200,
                "parity": "N",
            },
        },
        "chargers": {
            "keba": {
                "bus": "lan",
                "unit_id": 255,
                "profile": "keba_kecontact_p30",
                "simulated": True,
                "phase_rotation": "L2L3L1",
            },
            "charx": {
                "bus": "lan",
                "unit_id": 1,
                "profile": "phoenix_charx_sec3xxx",
                "connectors": 3,
                "simulated": True,
            },
            "hd1": {
                "bus": "rs485",
                "unit_id": 1,
                "profile": "heidelberg_energy_control",
                "max_current_a": 16,
                "simulated": True,
            },
            "hd2": {
                "bus": "rs485",
                "unit_id": 2,
                "profile": "heidelberg_energy_control",
                "max_current_a": 16,
                "phase_rotation": "L3",
                "simulated": True,
            },
        },
        "meters": {
            "grid": {"bus": "rs485", "unit_id": 10, "profile": "eastron_sdm630", "simulated": True},
        },
        "simulation": {
            "control_port": 0,
            "tick_s": 0.05,
            "ev_profiles": {
                "quick3": {"phases": 3, "max_current_a": 16, "response_delay_s": 0},
                "quick1": {"phases": 1, "max_current_a": 32, "response_delay_s": 0},
            },
            **simulation,
        },
    }


@pytest.fixture
def make_site(tmp_path: Path) -> Callable[..., Settings]:
    def build(**simulation: Any) -> Settings:
        return Settings.model_validate(site_config(tmp_path, **simulation))

    return build


@pytest.fixture
async def sim(make_site: Callable[..., Settings]) -> AsyncIterator[RunningSim]:
    async with running_site(make_site()) as running:
        yield running


@pytest.fixture
async def control(sim: RunningSim) -> AsyncIterator[SimControlClient]:
    async with SimControlClient(sim.control_url) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 10.0) -> None:
    """Poll ``check`` until it holds (generous bound: the machine is shared and noisy)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
