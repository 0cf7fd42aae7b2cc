"""A reply the driver cannot use (NaN, a value outside its profile's range) is an error of the
device: counted under ``bad_value``, kept in its error history and in /metrics, its health says
what is wrong; one bad value does not make it unavailable, three in a row do, and a good reading
brings it back. The simulator serves the bad values over Modbus TCP to the real driver."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.web import device_errors, web_command
from edge_controller.config.settings import Settings
from edge_controller.domain.snapshot import SiteView
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import ModbusBus
from edge_controller.drivers.modbus.stats import UNUSABLE_REPLIES_DOWN
from edge_controller.ports import DeviceFault
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.site import running_site
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from tests.integration.web.test_console_sessions import (
    TOKEN,
    NoCommands,
    NoReports,
    web_settings,
)
from tests.ports import free_port
from tests.unit.web.test_routes import NoSessions

pytestmark = pytest.mark.integration


def config() -> dict[str, Any]:
    return {
        "site": {"id": "bad", "grid_limit_a": 63},
        "buses": {"lan": {"type": "tcp", "host": "127.0.0.1", "port": free_port()}},
        "chargers": {
            "keba": {"bus": "lan", "unit_id": 255, "profile": "keba_kecontact_p30",
                     "simulated": True},
        },
        "meters": {
            "grid": {"bus": "lan", "unit_id": 10, "profile": "eastron_sdm630", "simulated": True},
        },
        "simulation": {"control_port": 0, "tick_s": 0.05},
    }  # fmt: skip


class BusSite:
    """The live view of a site whose devices are those of ``bus``."""

    def __init__(self, bus: ModbusBus) -> None:
        self._bus = bus

    def current(self) -> SiteView:
        return SiteView("bad", None, 63.0, None, None, devices=tuple(self._bus.views()))

    async def next_view(self) -> SiteView:
        return self.current()


def samples(text: str, name: str) -> dict[str, float]:
    """The grid meter's samples of metric ``name``, by their labels' text."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") and 'device="grid"' in line:
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = float(value)
    return found


async def metrics(client: TestClient[Any, Any]) -> str:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with client.get("/metrics", headers=headers) as response:
        assert response.status == 200
        return await response.text()


async def test_bad_values_are_errors_of_the_device_and_three_in_a_row_take_it_down(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate(config())
    bus = registry.build_bus("lan", settings.buses["lan"])
    grid = registry.build_meter("grid", settings.meters["grid"], bus)
    sources = Sources(
        NoReports(), NoSessions(), {}, NoCommands(), web_command,
        device_errors=device_errors({"lan": bus}),
    )  # fmt: skip
    app = build_app(
        web_settings(tmp_path), DisplayHub(BusSite(bus), DisplaySetup("bad"), 1.0), sources
    )
    async with (
        running_site(settings) as sim,
        SimControlClient(sim.control_url) as control,
        bus,
        TestClient(TestServer(app, port=free_port())) as client,
    ):
        await grid.read()
        await control.inject_fault("grid", "bad_value", point="voltage_l1")  # NaN
        with pytest.raises(DeviceFault, match="voltage_l1: float32 is not a finite number"):
            await grid.read()
        (view,) = bus.views()
        assert view.errors == {"bad_value": 1}
        assert view.available  # one bad value: it still answers, and says what is wrong
        assert view.fault_text == "grid: voltage_l1: float32 is not a finite number"
        await control.inject_fault("grid", "bad_value", point="voltage_l1", value=612.5)
        for _ in range(UNUSABLE_REPLIES_DOWN - 1):
            with pytest.raises(DeviceFault, match=r"voltage_l1 = 612\.5 V is implausible"):
                await grid.read()
        (down,) = bus.views()
        down_metrics = await metrics(client)
        history = device_errors({"lan": bus})()["grid"]
        await control.clear_faults("grid", "bad_value")
        reading = await grid.read()
        (back,) = bus.views()
        back_metrics = await metrics(client)
    assert not down.available and down.errors == {"bad_value": UNUSABLE_REPLIES_DOWN}
    assert down.fault_text == "grid: voltage_l1 = 612.5 V is implausible"
    assert [(e.kind, e.message) for e in history] == [
        ("bad_value", "grid: voltage_l1 = 612.5 V is implausible"),
        ("bad_value", "grid: voltage_l1 = 612.5 V is implausible"),
        ("bad_value", "grid: voltage_l1: float32 is not a finite number"),
    ]  # newest first
    assert samples(down_metrics, "edge_bus_errors_total") == {
        '{device="grid",kind="bad_value"}': float(UNUSABLE_REPLIES_DOWN)
    }
    assert samples(down_metrics, "edge_device_available") == {'{device="grid"}': 0.0}
    assert back.available and back.fault_text is None
    assert back.errors == down.errors  # a good reading clears nothing that was counted
    assert samples(back_metrics, "edge_device_available") == {'{device="grid"}': 1.0}
    assert 200 < reading.voltage_v[0] < 260 and not math.isnan(reading.voltage_v[0])
