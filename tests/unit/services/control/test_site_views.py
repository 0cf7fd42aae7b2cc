"""What the control loop publishes: only what was read, the chargers' and the grid's power and
energy, and wall-clock times (the loop itself runs on a monotonic clock).

In-memory devices implement our own ports (see test_site_controller.py for why that is honest).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from edge_controller.domain.balancing import Site
from edge_controller.domain.model import ChargerStatus, CpState, MeterReading
from edge_controller.domain.snapshot import Availability
from edge_controller.ports import DeviceUnavailable
from edge_controller.services.control.site_controller import (
    Clocks,
    ConnectorSetup,
    SiteController,
)

MONOTONIC_S = 812.5  # seconds since boot
WALL_S = 1_764_204_000.0  # 2025-11-27 00:40 UTC


@dataclass
class Charger:
    """Three-phase charger with a built-in meter; reports what it draws at 230 V."""

    name: str
    state: CpState = CpState.C
    drawn_a: float = 16.0
    energy_wh: float = 5_000.0
    answering: bool = True
    fault_text: str | None = None

    async def read_status(self) -> ChargerStatus:
        if not self.answering:
            raise DeviceUnavailable(f"{self.name}: timeout")
        return ChargerStatus(self.state, True, 16.0, fault_text=self.fault_text)

    async def set_current(self, current_a: float) -> None:
        if not self.answering:
            raise DeviceUnavailable(f"{self.name}: timeout")

    async def set_enabled(self, enabled: bool) -> None:
        pass

    async def read_meter(self) -> MeterReading:
        if not self.answering:
            raise DeviceUnavailable(f"{self.name}: timeout")
        amps = (self.drawn_a,) * 3
        watts = (self.drawn_a * 230.0,) * 3
        return MeterReading((230.0,) * 3, amps, watts, sum(watts), self.energy_wh, 0.0, WALL_S)


@dataclass
class Grid:
    answering: bool = True

    async def read(self) -> MeterReading:
        if not self.answering:
            raise DeviceUnavailable("grid: timeout")
        return MeterReading(
            (231.0, 229.5, 230.2),
            (20.0, 21.0, 19.0),
            (4600.0, 4800.0, 4370.0),
            13_770.0,
            1_234_567.0,
            890.0,
            WALL_S,
        )


@dataclass
class Clock:
    now_s: float

    def __call__(self) -> float:
        return self.now_s


def controller(chargers: list[Charger], grid: Grid, clock: Clock | None = None) -> SiteController:
    return SiteController(
        "site",
        Site(grid_limit_a=63.0),
        [ConnectorSetup(c.name, c) for c in chargers],
        grid,
        clocks=Clocks(clock or Clock(MONOTONIC_S), lambda: WALL_S),
    )


async def poll(site: SiteController, grid: bool = True, **only: bool) -> None:
    if grid:
        assert site._grid is not None
        await site._grid.poll_once()
    for cid, conn in site._conns.items():
        if only.get(cid.replace(":", "_"), True):
            await conn.status.poll_once()
            if conn.meter is not None:
                await conn.meter.poll_once()


async def test_nothing_is_published_about_a_device_before_its_first_read() -> None:
    chargers = [Charger("c1:1"), Charger("c2:1")]
    site = controller(chargers, Grid())
    before = site.snapshot()  # what the status socket answers before the loop's first step
    assert before.connectors == () and before.at_s == WALL_S
    assert set(before.waiting_for) == {"grid", "c1:1", "c2:1"}
    await site.step()
    view = site.snapshot()
    # Not "Unavailable", not a headroom built on chargers assumed at their maximum: nothing.
    assert view.connectors == () and view.headroom_a is None and view.grid_current_a is None
    assert set(view.waiting_for) == {"grid", "c1:1", "c2:1"}

    await poll(site, grid=False, c2_1=False)
    await site.step()
    view = site.snapshot()
    assert [c.connector_id for c in view.connectors] == ["c1:1"]
    assert view.connectors[0].availability is Availability.CHARGING
    assert view.headroom_a is None and set(view.waiting_for) == {"grid", "c2:1"}

    chargers[1].answering = False  # its first read ends without an answer: that is known too
    await poll(site)
    await site.step()
    view = site.snapshot()
    shown = {c.connector_id: c.availability for c in view.connectors}
    assert shown == {"c1:1": Availability.CHARGING, "c2:1": Availability.UNAVAILABLE}
    assert view.waiting_for == () and view.headroom_a is not None


async def test_power_and_grid_readings_are_shown() -> None:
    chargers = [Charger("c1:1", drawn_a=16.0), Charger("c2:1", state=CpState.A, drawn_a=0.0)]
    clock = Clock(MONOTONIC_S)
    site = controller(chargers, Grid(), clock)
    await poll(site)
    await site.step()
    view = site.snapshot()
    power = {c.connector_id: c.power_w for c in view.connectors}
    assert power == {"c1:1": 11_040.0, "c2:1": 0.0}
    assert view.grid_current_a == (20.0, 21.0, 19.0)
    assert view.grid_voltage_v == (231.0, 229.5, 230.2)
    assert view.grid_power_w == 13_770.0
    assert (view.grid_import_energy_wh, view.grid_export_energy_wh) == (1_234_567.0, 890.0)

    chargers[0].answering = False
    clock.now_s += 60  # silent for a minute: its last reading is void
    await poll(site)
    await site.step()
    shown = {c.connector_id: c for c in site.snapshot().connectors}
    assert shown["c1:1"].power_w is None  # not known, rather than a stale 11 kW or a false 0


async def test_times_shown_are_wall_clock_and_status_reads_are_timed() -> None:
    site = controller([Charger("c1:1")], Grid())
    for _ in range(3):
        await poll(site)
    await site.step()
    view = site.snapshot()
    assert view.at_s == WALL_S
    assert [c.at_s for c in view.connectors] == [WALL_S]
    assert view.grid_reading_age_s == 0.0  # a duration, on the loop's own clock
    read_p99_ms = view.connectors[0].status_read_p99_ms
    assert read_p99_ms is not None and read_p99_ms >= 0.0
    # The loop's pollers are not devices: a device's row comes from its bus, once.
    assert view.devices == ()


async def test_a_first_read_ending_during_a_step_is_published_by_the_next_step() -> None:
    """The step decided on "not read yet"; the read that ends while it writes setpoints must
    not turn that into "Unavailable" in the view it publishes."""
    release = asyncio.Event()

    @dataclass
    class SlowCharger(Charger):
        async def set_current(self, current_a: float) -> None:
            await release.wait()

    chargers = [SlowCharger("c1:1"), Charger("c2:1")]
    site = controller(chargers, Grid())
    await poll(site, c2_1=False)
    step = asyncio.create_task(site.step())
    await asyncio.sleep(0)  # the step is now writing c1:1's setpoint
    await poll(site, grid=False, c1_1=False)  # c2:1's first read ends meanwhile
    release.set()
    await step
    assert [c.connector_id for c in site.snapshot().connectors] == ["c1:1"]
    await site.step()
    shown = {c.connector_id: c.availability for c in site.snapshot().connectors}
    assert shown == {"c1:1": Availability.CHARGING, "c2:1": Availability.CHARGING}


async def test_a_faulted_connector_shows_what_its_charger_reports() -> None:
    faulty = Charger("c1:1", state=CpState.F, drawn_a=0.0, fault_text="charging station error")
    site = controller([faulty, Charger("c2:1")], Grid())
    await poll(site)
    await site.step()
    shown = {c.connector_id: c for c in site.snapshot().connectors}
    assert shown["c1:1"].availability is Availability.FAULTED
    assert shown["c1:1"].fault_text == "charging station error"  # what drivers and reports say
    assert shown["c2:1"].fault_text is None
    faulty.state, faulty.fault_text = CpState.A, None  # the fault has cleared
    await poll(site)
    await site.step()
    assert {c.connector_id: c.fault_text for c in site.snapshot().connectors} == {
        "c1:1": None, "c2:1": None,
    }  # fmt: skip
