"""The bus traffic model (check-config) plans the requests the drivers really send: for every
shipped profile, a poll of status and meter, one of the status alone and one steady setpoint
write of the real driver against the simulator, counted by function code by the simulator,
equal the model's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from edge_controller.config.settings import Settings
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.timing_report import charger_traffic, meter_traffic
from edge_controller.drivers.modbus.traffic import Exchange
from edge_controller.drivers.profiles.schema import load_profile
from edge_controller.ports import BuiltInMeter, StatusWithMeter
from edge_controller.sim.site import RunningSim, running_site
from tests.ports import free_port

pytestmark = pytest.mark.integration
KINDS = registry.profile_kinds()


def _site(profile: str, kind: str) -> dict[str, Any]:
    framing = "ascii" if load_profile(profile).transport.framing == "ascii" else "rtu"
    device: dict[str, Any] = {"bus": "gw", "unit_id": 7, "profile": profile, "simulated": True}
    config: dict[str, Any] = {
        "site": {"id": "plan", "grid_limit_a": 63},
        "buses": {
            "gw": {"type": "rtu_over_tcp", "host": "127.0.0.1", "port": free_port()}
            | {"framing": framing}
        },
        "simulation": {"control_port": 0},
    }
    if kind == "charger":
        connectors = min(2, load_profile(profile).connectors.count)  # two where it has two
        config["chargers"] = {"dev": device | {"connectors": connectors}}
    else:
        config["meters"] = {"dev": device | {"role": "grid"}}
    return config


def _functions(exchanges: Sequence[Exchange]) -> Counter[int]:
    return Counter(exchange.function for exchange in exchanges)


class _Counted:
    def __init__(self, sim: RunningSim) -> None:
        self._device = sim.site.device("dev")
        self._seen = Counter(self._device.requests)

    def new(self) -> Counter[int]:
        now = Counter(self._device.requests)
        fresh, self._seen = now - self._seen, now
        return fresh


@pytest.mark.parametrize("profile", sorted(p for p, k in KINDS.items() if k == "charger"))
async def test_charger_requests_match_the_plan(profile: str) -> None:
    settings = Settings.model_validate(_site(profile, "charger"))
    config = settings.chargers["dev"]
    polls, setpoints = charger_traffic("dev", config, load_profile(profile))
    bus = registry.build_bus("gw", settings.buses["gw"])
    async with running_site(settings) as sim, bus:
        connectors = registry.build_charger("dev", config, bus)
        for charger in connectors:
            await charger.read_status()  # start-up writes, once
            await charger.set_current(16.0)  # first write may switch enable on too
        counted = _Counted(sim)
        for n, charger in enumerate(connectors, start=1):
            [poll] = [p for p in polls if p.name.startswith(f"dev:{n} ")]
            if isinstance(charger, BuiltInMeter):  # one poller, the meter carried
                assert isinstance(charger, StatusWithMeter)
                assert poll.name == f"dev:{n} status and meter"
                await charger.read_status_and_meter()
                assert counted.new() == _functions(poll.carried), poll.name
            else:
                assert poll.name == f"dev:{n} status" and not poll.carried
            await charger.read_status()
            assert counted.new() == _functions(poll.exchanges), poll.name
            await charger.set_current(16.0)  # the cyclic rewrite while charging
            assert counted.new() == _functions(setpoints[n - 1].exchanges)


@pytest.mark.parametrize("profile", sorted(p for p, k in KINDS.items() if k == "meter"))
async def test_grid_meter_requests_match_the_plan(profile: str) -> None:
    settings = Settings.model_validate(_site(profile, "meter"))
    config = settings.meters["dev"]
    [poll] = meter_traffic("dev", config, load_profile(profile))
    bus = registry.build_bus("gw", settings.buses["gw"])
    async with running_site(settings) as sim, bus:
        meter = registry.build_meter("dev", config, bus)
        await meter.read()
        counted = _Counted(sim)
        await meter.read()
        assert counted.new() == _functions(poll.exchanges)
