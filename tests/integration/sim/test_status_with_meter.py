"""A charger's status and built-in meter read together, against the simulator's own Modbus servers:
Heidelberg wallboxes on its RTU line (a socat pty pair) and a Phoenix EM-CP-PP-ETH over TCP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from edge_controller.config.settings import ChargerSettings, Settings
from edge_controller.domain.balancing import DemandState
from edge_controller.domain.model import ChargerStatus, CpState, MeterReading
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import ModbusBus
from edge_controller.ports import DeviceFault, StatusWithMeter
from edge_controller.services.control.connector import ConnectorRuntime, ConnectorSetup, LoopTiming
from edge_controller.services.control.poller import Poller
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.site import RunningSim, running_site
from tests.integration.sim.conftest import eventually, site_config

pytestmark = pytest.mark.integration

FC_READ_INPUT = "fc04"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[RunningSim, SimControlClient]]:
    config = site_config(tmp_path)
    config["chargers"]["emcp"] = {
        "bus": "lan", "unit_id": 180, "profile": "phoenix_em_cp_pp_eth", "simulated": True
    }  # fmt: skip
    async with (
        running_site(Settings.model_validate(config)) as sim,
        SimControlClient(sim.control_url) as control,
    ):
        yield sim, control


@pytest.fixture
async def rs485(site: tuple[RunningSim, SimControlClient]) -> AsyncIterator[ModbusBus]:
    async with registry.build_bus("rs485", site[0].settings.buses["rs485"]) as bus:
        yield bus


def wallbox(sim: RunningSim, bus: ModbusBus, charger_id: str = "hd1") -> Any:
    [charger] = registry.build_charger(charger_id, sim.settings.chargers[charger_id], bus)
    assert isinstance(charger, StatusWithMeter)
    return charger


def pollers(
    charger: Any, clock: Callable[[], float] = time.monotonic
) -> tuple[Poller[ChargerStatus], Poller[MeterReading]]:
    """A connector's two pollers as the control loop wires them (``ConnectorRuntime``)."""
    runtime = ConnectorRuntime(
        ConnectorSetup(charger.connector_id, charger), LoopTiming(io_timeout_s=10), clock
    )
    assert runtime.meter is not None and runtime.meter.carried
    return runtime.status, runtime.meter


async def requests(control: SimControlClient, device_id: str) -> dict[str, int]:
    counted: dict[str, int] = (await control.device(device_id))["requests"]
    return counted


async def charging(
    control: SimControlClient, charger: Any, connector: str, energy_wh: float = 3
) -> None:
    await control.plug(connector, profile="quick3")
    await charger.set_current(16)

    async def drawing() -> bool:
        view = await control.connector(connector)
        return bool(view["state"] == "C" and view["energy_wh"] >= energy_wh)

    await eventually(drawing)


async def test_status_and_meter_come_in_one_request_over_rtu(
    site: tuple[RunningSim, SimControlClient], rs485: ModbusBus
) -> None:
    sim, control = site
    hd1 = wallbox(sim, rs485)
    await charging(control, hd1, "hd1:1")
    status, meter = pollers(hd1)
    before = await requests(control, "hd1")

    assert await status.poll_once()

    after = await requests(control, "hd1")
    assert after.get(FC_READ_INPUT, 0) - before.get(FC_READ_INPUT, 0) == 1  # apart: one for each
    assert sum(after.values()) - sum(before.values()) == 1
    state, reading = status.latest, meter.latest
    assert state is not None and reading is not None
    assert state.state is CpState.C
    points = (await control.device("hd1"))["points"]
    assert reading.current_a == pytest.approx((16.0, 16.0, 16.0))
    # The register the bill is made of, exactly as the wallbox holds it (whole Wh).
    assert 3 <= reading.import_energy_wh <= points["energy_import"]
    assert meter.latest_started_at_s == status.latest_started_at_s
    assert meter.stats().requests == status.stats().requests == 1


async def test_a_failed_or_garbled_read_leaves_both_parts_as_they_were(
    site: tuple[RunningSim, SimControlClient], rs485: ModbusBus
) -> None:
    sim, control = site
    hd1 = wallbox(sim, rs485)
    await charging(control, hd1, "hd1:1")
    status, meter = pollers(hd1)
    assert await status.poll_once()
    state, reading = status.latest, meter.latest
    for kind in ("no_answer", "corrupt"):
        await control.inject_fault("hd1", kind)
        meter.refresh()  # due again at once
        assert not await status.poll_once()
        await control.clear_faults("hd1", kind)
        assert status.latest is state and meter.latest is reading
    assert status.stats().errors == meter.stats().errors == {"DeviceUnavailable": 2}
    assert not status.available and not meter.available


async def test_a_refused_read_of_both_has_them_read_apart_from_then_on(
    site: tuple[RunningSim, SimControlClient], rs485: ModbusBus
) -> None:
    sim, control = site
    hd1 = wallbox(sim, rs485)
    await charging(control, hd1, "hd1:1")
    status, meter = pollers(hd1)
    assert await status.poll_once() and not status.reads_apart
    reading = meter.latest
    await control.inject_fault("hd1", "bad_value", point="current_l2", value=95)
    await control.unplug("hd1:1", immediate=True)
    meter.refresh()
    before = await requests(control, "hd1")

    assert await status.poll_once()  # the pair is refused, then each part is read alone

    assert sum((await requests(control, "hd1")).values()) - sum(before.values()) == 3
    assert meter.latest is reading  # nothing of the refused reads
    assert meter.stats().errors == {"DeviceFault": 1} and not meter.available
    assert status.latest is not None and status.latest.state is CpState.A
    assert status.available and status.stats().errors == {}  # the meter's fault is not its own
    assert status.reads_apart

    await control.clear_faults("hd1", "bad_value")
    meter.refresh()
    before = await requests(control, "hd1")
    assert await status.poll_once()  # apart: the status, then the meter on its own
    assert sum((await requests(control, "hd1")).values()) - sum(before.values()) == 2
    assert meter.available and meter.latest is not None and meter.latest is not reading
    assert meter.latest.current_a == pytest.approx((0.0, 0.0, 0.0))  # unplugged: no draw
    assert meter.latest.import_energy_wh >= 3


async def test_energy_never_goes_backwards_between_the_two_kinds_of_read(
    site: tuple[RunningSim, SimControlClient], rs485: ModbusBus
) -> None:
    sim, control = site
    hd1 = wallbox(sim, rs485)
    await charging(control, hd1, "hd1:1")
    counted = (await hd1.read_meter()).import_energy_wh
    assert counted >= 3
    await control.inject_fault("hd1", "bad_value", point="energy_import", value=1)

    with pytest.raises(DeviceFault, match="energy_import went backwards"):
        await hd1.read_status_and_meter()
    with pytest.raises(DeviceFault, match="energy_import went backwards"):
        await hd1.read_meter()

    await control.clear_faults("hd1", "bad_value")
    _, reading = await hd1.read_status_and_meter()
    assert reading.import_energy_wh >= counted


async def test_an_exception_reply_names_the_registers_read(
    site: tuple[RunningSim, SimControlClient], rs485: ModbusBus
) -> None:
    sim, control = site
    hd1 = wallbox(sim, rs485)
    await hd1.read_status()  # its start-up write done
    await control.inject_fault("hd1", "exception", code=2)
    message = "hd1: Modbus exception 02 (illegal data address) to read input 5-18"
    with pytest.raises(DeviceFault) as raised:
        await hd1.read_status_and_meter()
    assert str(raised.value) == message
    assert hd1.device.channel.view().fault_text == message


async def test_a_tcp_controller_reads_its_meter_with_its_state(
    site: tuple[RunningSim, SimControlClient],
) -> None:
    sim, control = site
    settings = sim.settings.chargers["emcp"]
    assert isinstance(settings, ChargerSettings)
    async with registry.build_bus("lan", sim.settings.buses["lan"]) as lan:
        [emcp] = registry.build_charger("emcp", settings, lan)
        assert isinstance(emcp, StatusWithMeter)
        await charging(control, emcp, "emcp:1", energy_wh=15)  # its register counts 10 Wh
        before = await requests(control, "emcp")
        state, reading = await emcp.read_status_and_meter()
        after = await requests(control, "emcp")
    # State and measurements share one input-register read; the setpoint and the enable coil
    # are other tables: three requests, where the status and the meter apart took four.
    assert sum(after.values()) - sum(before.values()) == 3
    assert after.get(FC_READ_INPUT, 0) - before.get(FC_READ_INPUT, 0) == 1
    assert state.state is CpState.C and state.offered_current_a == 16
    assert reading.current_a == pytest.approx((16.0, 16.0, 16.0))
    assert reading.import_energy_wh >= 10


async def test_a_model_whose_registers_lie_apart_reads_both_in_one_poll_of_two_requests(
    site: tuple[RunningSim, SimControlClient],
) -> None:
    """CHARX: 45 unused registers between its measurements and its state, more than the model
    is known to answer in one read; one poll still reads both, one request after the other."""
    sim, control = site
    settings = sim.settings.chargers["charx"]
    async with registry.build_bus("lan", sim.settings.buses["lan"]) as lan:
        charx = registry.build_charger("charx", settings, lan)[0]
        await charging(control, charx, "charx:1")
        status, meter = pollers(charx)
        assert status.reads_apart
        meter.interval_s = 5  # as for a connector that cannot draw: the status poll alone
        before = await requests(control, "charx")
        assert await status.poll_once()
        both = await requests(control, "charx")
        assert await status.poll_once()
        alone = await requests(control, "charx")
    assert sum(both.values()) - sum(before.values()) == 2
    assert sum(alone.values()) - sum(both.values()) == 1
    assert meter.stats().requests == 1 and status.stats().requests == 2
    assert status.latest is not None and status.latest.state is CpState.C
    assert meter.latest is not None and meter.latest.current_a == pytest.approx((16.0,) * 3)


async def test_a_keba_whose_meter_register_does_not_answer_keeps_its_status_available(
    site: tuple[RunningSim, SimControlClient],
) -> None:
    """KEBA: three status requests and eight meter requests, read apart. One meter register
    that never answers leaves the meter stale and the status read, fresh and available."""
    sim, control = site
    now = [0.0]
    lan_settings = sim.settings.buses["lan"].model_copy(update={"timeout_s": 0.3, "retries": 0})
    async with registry.build_bus("lan", lan_settings) as lan:
        [keba] = registry.build_charger("keba", sim.settings.chargers["keba"], lan)
        await charging(control, keba, "keba:1")
        runtime = ConnectorRuntime(
            ConnectorSetup("keba:1", keba, max_current_a=16), LoopTiming(), lambda: now[0]
        )
        status, meter = runtime.status, runtime.meter
        assert meter is not None and status.reads_apart
        assert await status.poll_once()
        assert meter.latest is not None and meter.latest.current_a == pytest.approx((16.0,) * 3)
        await control.inject_fault("keba", "no_answer", point="energy_import")
        for now[0] in (3.0, 6.0):  # the meter due at each poll, its reading 6 s old at the end
            assert await status.poll_once()
        demand = runtime.demand(now[0])
    assert meter.fresh() is None and not meter.available
    assert meter.stats().errors == {"DeviceUnavailable": 2}
    assert status.available and status.stats().errors == {}
    fresh = status.fresh()
    assert fresh is not None and fresh.state is CpState.C
    assert demand.state is not DemandState.UNAVAILABLE
    assert demand.measured_current_a is None  # no reading: counted at its worst case


async def test_a_keba_whose_meter_register_keeps_not_answering_has_it_asked_ever_more_seldom(
    site: tuple[RunningSim, SimControlClient],
) -> None:
    """Each unanswered meter read holds the KEBA's link for its whole timeout: after two in a
    row the meter waits twice as long each time, and the status is read again right after
    each, so it stays fresh however long the register stays silent."""
    sim, control = site
    now = [0.0]
    lan_settings = sim.settings.buses["lan"].model_copy(update={"timeout_s": 0.3, "retries": 0})
    async with registry.build_bus("lan", lan_settings) as lan:
        [keba] = registry.build_charger("keba", sim.settings.chargers["keba"], lan)
        await charging(control, keba, "keba:1")
        runtime = ConnectorRuntime(
            ConnectorSetup("keba:1", keba, max_current_a=16), LoopTiming(), lambda: now[0]
        )
        status, meter = runtime.status, runtime.meter
        assert meter is not None and status.reads_apart
        assert await status.poll_once()
        await control.inject_fault("keba", "no_answer", point="energy_import")
        asked = []
        for second in range(1, 10):
            now[0] = second * 1.002  # a poll a little over each second
            tries = meter.stats().requests
            assert await status.poll_once()
            if meter.stats().requests > tries:
                asked.append(second)
            assert status.fresh() is not None and status.age_s() == 0.0
        demand = runtime.demand(now[0])
        await control.clear_faults("keba", "no_answer")
        now[0] = 17.5  # its wait of 8 s over: asked again, and answering
        assert await status.poll_once()
    assert asked == [1, 2, 4, 8]
    assert meter.stats().errors == {"DeviceUnavailable": 4}
    assert status.stats().requests == 1 + 9 + 4 + 1  # again after each unanswered read
    assert status.stats().errors == {} and status.available
    assert demand.state is not DemandState.UNAVAILABLE
    assert demand.measured_current_a is None  # the meter stale: counted at its worst case
    assert meter.fresh() is not None and meter.silent_wait_s() is None
    assert meter.fresh().current_a == pytest.approx((16.0,) * 3)
