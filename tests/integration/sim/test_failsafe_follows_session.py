"""The daemon's site loop and drivers against the register-accurate simulator: each charger's
watchdog fallback follows the session, read back from the simulated device's registers, and
when the loop dies an EV waiting for a card does not start charging.

The site is the sim tests' (KEBA on Modbus TCP; two Heidelbergs and the grid meter on one RTU
line over a socat pty pair), wired as the daemon wires it (``app.site``); sessions are not run
here, ``authorize_charging`` is their gate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge_controller.app.hardware import open_hardware
from edge_controller.app.site import balancing_site, connector_setups, loop_timing
from edge_controller.config.settings import Settings
from edge_controller.services.control.site_controller import SiteController
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.site import running_site
from tests.integration.sim.conftest import eventually, site_config

pytestmark = pytest.mark.integration

SAFE_A, TIMEOUT_S = 8.0, 2.0  # 8 A: not the minimum, so the fallback is recognisable
WATCHED = {"keba": "keba:1", "hd1": "hd1:1", "hd2": "hd2:1"}  # the models with a watchdog
MARGIN_S = 10.0  # polling, the RTU line and a busy machine on top of the watchdog timeout


@dataclass
class Site:
    control: SimControlClient
    controller: SiteController
    task: asyncio.Task[None]

    async def fallback_a(self, charger: str) -> float:
        return float((await self.control.device(charger))["points"]["failsafe_current"])

    async def connector(self, cid: str) -> dict[str, Any]:
        return await self.control.connector(cid)


def _settings(tmp_path: Path, free_vend: bool) -> Settings:
    config = site_config(tmp_path)
    config["site"].update(fallback_current_a=6, min_pause_s=0, min_charge_s=0)
    for charger in WATCHED:
        config["chargers"][charger].update(failsafe_current_a=SAFE_A, failsafe_timeout_s=TIMEOUT_S)
    if free_vend:
        config["ocpp"] = {"authorization": {"free_vend_id_tag": "FREE"}}
    return Settings.model_validate(config)


@contextlib.asynccontextmanager
async def _site(tmp_path: Path, *, free_vend: bool = False) -> AsyncIterator[Site]:
    settings = _settings(tmp_path, free_vend)
    async with (
        running_site(settings) as sim,
        SimControlClient(sim.control_url) as control,
        contextlib.AsyncExitStack() as stack,
    ):
        for cid in WATCHED.values():
            await control.plug(cid, profile="quick3" if cid != "hd2:1" else "quick1")
        hw = await open_hardware(settings, stack)
        site, policy = balancing_site(settings)
        setups = connector_setups(settings, hw)
        controller = SiteController(
            "failsafe", site, setups, hw.grid_meter, policy=policy, timing=loop_timing(settings)
        )
        task = asyncio.create_task(controller.run())
        try:
            yield Site(control, controller, task)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _fallbacks(site: Site) -> dict[str, float]:
    return {charger: await site.fallback_a(charger) for charger in WATCHED}


async def test_the_fallback_is_0_a_until_a_session_is_authorised_and_after_it(
    tmp_path: Path,
) -> None:
    async with _site(tmp_path) as site:

        async def all_at(wanted: dict[str, float]) -> bool:
            return await _fallbacks(site) == wanted

        await eventually(lambda: all_at({"keba": 0.0, "hd1": 0.0, "hd2": 0.0}), 20)
        site.controller.authorize_charging("hd1:1", True)
        await eventually(lambda: all_at({"keba": 0.0, "hd1": SAFE_A, "hd2": 0.0}), 20)
        site.controller.authorize_charging("hd1:1", False)
        await eventually(lambda: all_at({"keba": 0.0, "hd1": 0.0, "hd2": 0.0}), 20)


async def test_when_the_loop_dies_only_the_authorised_session_charges_on_its_fallback(
    tmp_path: Path,
) -> None:
    async with _site(tmp_path) as site:
        site.controller.authorize_charging("hd1:1", True)

        async def charging_with_fallback() -> bool:  # and hd2 programmed (it powers up at 8 A)
            hd1 = await site.connector("hd1:1")
            fallbacks = await _fallbacks(site)
            return hd1["state"] == "C" and fallbacks == {"keba": 0.0, "hd1": SAFE_A, "hd2": 0.0}

        await eventually(charging_with_fallback, 20)
        site.task.cancel()  # the daemon dies: no last write, no shutdown
        with contextlib.suppress(asyncio.CancelledError):
            await site.task

        async def watchdogs_took_over() -> bool:
            views = [await site.connector(cid) for cid in WATCHED.values()]
            return all(view["failsafe_active"] for view in views)

        await eventually(watchdogs_took_over, TIMEOUT_S + MARGIN_S)
        await asyncio.sleep(1.0)  # an EV follows an offer after its response delay (0 s here)
        hd1, hd2, keba = [await site.connector(c) for c in ("hd1:1", "hd2:1", "keba:1")]
        assert (hd1["offered_a"], hd1["state"]) == (SAFE_A, "C")
        # Waiting for a card: offered nothing, so the EV stays in state B and draws nothing.
        for waiting in (hd2, keba):
            assert (waiting["offered_a"], waiting["state"]) == (0.0, "B"), waiting
            assert waiting["drawn_a"] == [0.0, 0.0, 0.0]


async def test_free_vend_keeps_the_safe_current_everywhere(tmp_path: Path) -> None:
    async with _site(tmp_path, free_vend=True) as site:

        async def all_safe() -> bool:
            return await _fallbacks(site) == {"keba": SAFE_A, "hd1": SAFE_A, "hd2": SAFE_A}

        await eventually(all_safe, 20)


async def test_shutdown_leaves_the_safe_current_only_to_the_authorised_session(
    tmp_path: Path,
) -> None:
    async with _site(tmp_path) as site:
        site.controller.authorize_charging("keba:1", True)

        async def keba_charging() -> bool:
            return (await site.connector("keba:1"))["state"] == "C"

        await eventually(keba_charging, 20)
        await site.controller.shutdown()
        offers = {cid: (await site.connector(cid))["offered_a"] for cid in WATCHED.values()}
        assert offers == {"keba:1": SAFE_A, "hd1:1": 0.0, "hd2:1": 0.0}
        assert await _fallbacks(site) == {"keba": SAFE_A, "hd1": 0.0, "hd2": 0.0}
