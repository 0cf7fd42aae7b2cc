"""serve_site starts from a config, follows its EV script, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient

from edge_controller.config.settings import Settings, TcpBusSettings
from edge_controller.sim.control_client import SimControlClient, SimControlError
from edge_controller.sim.sim_site import SimStartError
from edge_controller.sim.site import running_site, serve_site
from tests.integration.sim.conftest import eventually
from tests.ports import free_port

pytestmark = pytest.mark.integration


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _exists(path: str | Path) -> bool:
    return os.path.lexists(path)


def _lan_port(settings: Settings) -> int:
    bus = settings.buses["lan"]
    assert isinstance(bus, TcpBusSettings)
    return bus.port


async def test_leaving_the_context_closes_ports_and_kills_socat(
    make_site: Callable[..., Settings],
) -> None:
    settings = make_site()
    async with running_site(settings) as running:
        pty = running.pty_paths["rs485"]
        control_port = int(running.control_url.rsplit(":", 1)[1])
        assert _exists(pty) and not _refused(_lan_port(settings))
    assert not _exists(pty) and not _exists(f"{pty}.sim")
    assert _refused(_lan_port(settings)) and _refused(control_port)


async def test_serve_site_runs_until_cancelled(make_site: Callable[..., Settings]) -> None:
    control_port = free_port()
    settings = make_site(control_port=control_port)
    task = asyncio.create_task(serve_site(settings))

    async def up() -> bool:
        return not _refused(control_port)

    try:
        await eventually(up)
        async with SimControlClient(f"http://127.0.0.1:{control_port}") as control:
            assert set((await control.state())["connectors"]) == {
                "keba:1",
                "charx:1",
                "charx:2",
                "charx:3",
                "hd1:1",
                "hd2:1",
            }
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    device = settings.buses["rs485"].device  # type: ignore[union-attr]
    assert _refused(control_port) and _refused(_lan_port(settings))
    assert not _exists(device)


async def test_ev_script_plugs_and_unplugs(make_site: Callable[..., Settings]) -> None:
    script = [{"connector": "hd1:1", "profile": "quick3", "arrive_s": 0.0, "leave_s": 0.5}]
    async with (
        running_site(make_site(ev_script=script)) as running,
        SimControlClient(running.control_url) as control,
    ):
        view = await control.connector("hd1:1")
        assert view["ev"] is not None and view["state"] == "B"

        async def gone() -> bool:
            return bool((await control.connector("hd1:1"))["state"] == "A")

        await eventually(gone)


async def test_control_interface_rejects_bad_requests(make_site: Callable[..., Settings]) -> None:
    async with (
        running_site(make_site()) as running,
        SimControlClient(running.control_url) as control,
    ):
        cases = [
            (control.plug("nope:1", profile="quick3"), 404),
            (control.plug("hd1:2", profile="quick3"), 404),
            (control.plug("hd1:1", profile="unknown"), 400),
            (control.plug("hd1:1", phases=5), 400),
            (control.inject_fault("hd1", "gremlins"), 400),
            (control.inject_fault("nope", "slow"), 404),
            (control.unplug("hd1:1"), 409),
            (control.registers("hd1", 9999), 400),
        ]
        for call, status in cases:
            with pytest.raises(SimControlError) as caught:
                await call
            assert caught.value.status == status
        await control.plug("hd1:1", profile="quick3")
        with pytest.raises(SimControlError) as twice:
            await control.plug("hd1:1", profile="quick3")
        assert twice.value.status == 409
        assert await control.registers("hd1", 5, table="input") == [4]  # B1


async def test_an_ev_pauses_and_resumes_through_the_control_interface(
    make_site: Callable[..., Settings],
) -> None:
    async with (
        running_site(make_site()) as running,
        SimControlClient(running.control_url) as control,
    ):
        await control.plug("hd1:1", profile="quick3")
        running.site.chargers["hd1"].model.write_setpoint(running.clock(), 1, 10.0)

        async def shows(state: str, drawn_a: float, paused: str | None) -> None:
            async def check() -> bool:
                view = await control.connector("hd1:1")
                return (view["state"], view["drawn_a"][0], view["ev"]["paused"]) == (
                    state,
                    drawn_a,
                    paused,
                )

            await eventually(check)

        await shows("C", 10.0, None)
        await control.pause("hd1:1", state="C")
        await shows("C", 0.0, "C")
        await control.resume("hd1:1")
        await shows("C", 10.0, None)
        await control.pause("hd1:1")
        await shows("B", 0.0, "B")
        cases = [
            (control.pause("hd1:1"), 409, "already paused"),
            (control.pause("hd2:1"), 409, "no EV plugged in"),
            (control.resume("hd2:1"), 409, "no EV plugged in"),
            (control.pause("nope:1"), 404, "no simulated connector"),
            (control.pause("hd1:2"), 404, "has no connector 2"),
            (control.pause("hd1:1", state="A"), 400, "state must be"),
        ]
        for call, status, reason in cases:
            with pytest.raises(SimControlError, match=reason) as caught:
                await call
            assert caught.value.status == status
        await control.resume("hd1:1")
        with pytest.raises(SimControlError, match="not paused") as twice:
            await control.resume("hd1:1")
        assert twice.value.status == 409


async def test_a_building_load_beyond_1000_a_shows_on_the_grid_meter_alone(
    make_site: Callable[..., Settings],
) -> None:
    """A step that overloads a 3,000 A connection by a tenth needs more than the 1,000 A a
    phase the control interface once took; the meter's own view answers without the site."""
    async with (
        running_site(make_site()) as running,
        SimControlClient(running.control_url) as control,
    ):
        await control.set_base_load(3305, 3305, 3305)

        async def stepped() -> bool:
            return (await control.meter("grid"))["current_a"] == [3305.0, 3305.0, 3305.0]

        await eventually(stepped)
        meter = await control.meter("grid")
        assert meter["stepped_at_s"] > 0 and meter["power_w"][0] > 700_000
        with pytest.raises(SimControlError) as beyond:
            await control.set_base_load(10_001, 0, 0)
        assert beyond.value.status == 400
        with pytest.raises(SimControlError) as unknown:
            await control.meter("feeder")
        assert unknown.value.status == 404


async def test_wire_timing_still_answers(make_site: Callable[..., Settings]) -> None:
    async with running_site(make_site(wire_timing=True)) as running:
        client = AsyncModbusSerialClient(
            running.pty_paths["rs485"], baudrate=19200, parity="N", timeout=2.0, retries=0
        )
        assert await client.connect()
        try:
            reply = await client.read_input_registers(4, count=15, device_id=1)
            assert reply.registers[:2] == [0x0108, 2]
        finally:
            client.close()


async def test_taken_port_fails_clearly_and_cleans_up(make_site: Callable[..., Settings]) -> None:
    settings = make_site()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", _lan_port(settings)))
        blocker.listen()
        with pytest.raises(SimStartError, match="lan"):
            async with running_site(settings):
                pass
    device = settings.buses["rs485"].device  # type: ignore[union-attr]
    assert not _exists(device)


async def test_an_error_in_the_body_comes_out_unwrapped(
    make_site: Callable[..., Settings],
) -> None:
    with pytest.raises(KeyError, match="boom"):
        async with running_site(make_site()):
            raise KeyError("boom")
