"""The site control loop against in-memory devices.

The ports (edge_controller/ports.py) are our own edge, so small in-memory implementations of them
are the honest peers for the loop's logic; the whole site over Modbus is tested at integration.
The clock is injected: steps are driven one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from structlog.testing import capture_logs

from edge_controller.domain.balancing import (
    Allocation,
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    Feeder,
    Policy,
    Site,
    allocate,
)
from edge_controller.domain.balancing.caution import Sample
from edge_controller.domain.commands import (
    Origin,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    StartSession,
)
from edge_controller.domain.gateways import EffectiveBudget
from edge_controller.domain.model import ChargerStatus, CpState, Limit, MeterReading
from edge_controller.domain.snapshot import Availability
from edge_controller.ports import DeviceUnavailable, NotSupported
from edge_controller.services.control import site_controller
from edge_controller.services.control.site_controller import (
    Clocks,
    ConnectorSetup,
    LoopHooks,
    LoopTiming,
    SiteController,
)


@dataclass
class Clock:
    now_s: float = 100.0

    def __call__(self) -> float:
        return self.now_s


@dataclass
class MemoryCharger:
    """Charger + BuiltInMeter + DeviceWatchdog; the EV follows the offer at once."""

    name: str
    log: list[tuple[str, float]]
    state: CpState = CpState.C
    ev_phases: int = 3
    answering: bool = True
    offered_a: float = 0.0
    failsafe: list[tuple[float, float]] = field(default_factory=list)
    energy_wh: float = 0.0
    increases_wait_for: asyncio.Event | None = None  # a slow bus: an increase waits for it
    waiting: asyncio.Event = field(default_factory=asyncio.Event)  # an increase is waiting
    failsafe_waits_for: asyncio.Event | None = None  # its watchdog's programming waits for it
    # A grid reading arrives while a write is on the bus (the hook reads the grid meter).
    write_hook: Callable[[], Awaitable[None]] | None = None
    writes_wait_for: asyncio.Event | None = None  # a slow bus: every setpoint waits for it
    status_reads: int = 0
    overdraw_a: float = 0.0  # its EV draws this much over the offer while it charges

    def _check(self) -> None:
        if not self.answering:
            raise DeviceUnavailable(f"{self.name}: timeout")

    async def read_status(self) -> ChargerStatus:
        self._check()
        self.status_reads += 1
        return ChargerStatus(self.state, True, self.offered_a)

    async def set_current(self, current_a: float) -> None:
        self._check()
        if self.increases_wait_for is not None and current_a > self.offered_a:
            self.waiting.set()
            await self.increases_wait_for.wait()
        if self.write_hook is not None:
            await self.write_hook()
            for _ in range(3):  # the rest of the write takes a few turns of the loop
                await asyncio.sleep(0)
        if self.writes_wait_for is not None:
            self.waiting.set()
            await self.writes_wait_for.wait()
        self.offered_a = current_a
        self.log.append((self.name, current_a))

    async def set_enabled(self, enabled: bool) -> None:
        self._check()

    async def read_meter(self) -> MeterReading:
        self._check()
        drawing = self.draw_a()
        amps = tuple(drawing if i < self.ev_phases else 0.0 for i in range(3))
        return MeterReading((230.0,) * 3, amps, (0.0,) * 3, 0.0, self.energy_wh, 0.0, 0.0)  # type: ignore[arg-type]

    async def program_failsafe(self, current_a: float, timeout_s: float) -> None:
        self._check()
        if self.failsafe_waits_for is not None:
            await self.failsafe_waits_for.wait()
        self.failsafe.append((current_a, timeout_s))

    def draw_a(self) -> float:
        return self.offered_a + self.overdraw_a if self.state.charging else 0.0


@dataclass
class GridMeter:
    """The grid connection: building load plus what every charger draws (straight wiring)."""

    chargers: list[MemoryCharger]
    building_a: float = 0.0
    answering: bool = True

    async def read(self) -> MeterReading:
        if not self.answering:
            raise DeviceUnavailable("grid meter: timeout")
        amps = [self.building_a] * 3
        for charger in self.chargers:
            for phase in range(charger.ev_phases):
                amps[phase] += charger.draw_a()
        return MeterReading((230.0,) * 3, tuple(amps), (0.0,) * 3, 0.0, 0.0, 0.0, 0.0)  # type: ignore[arg-type]


@dataclass
class Rig:
    clock: Clock
    chargers: list[MemoryCharger]
    meter: GridMeter
    controller: SiteController
    log: list[tuple[str, float]]

    async def poll(self) -> None:
        await self.controller._grid.poll_once()  # type: ignore[union-attr]
        for conn in self.controller._conns.values():
            await conn.status.poll_once()
            if conn.meter is not None:
                await conn.meter.poll_once()

    async def advance(self, seconds: float) -> None:
        self.clock.now_s += seconds
        await self.poll()
        await self.controller.step()

    def offered(self) -> list[float]:
        return [c.offered_a for c in self.chargers]


def make_rig(count: int = 2, grid_limit_a: float = 32.0, **policy: float) -> Rig:
    clock, log = Clock(), list[tuple[str, float]]()
    chargers = [MemoryCharger(f"c{i}:1", log) for i in range(1, count + 1)]
    meter = GridMeter(chargers)
    setups = [ConnectorSetup(c.name, c, failsafe_current_a=6.0) for c in chargers]
    site = Site(grid_limit_a=grid_limit_a, feeders=(Feeder("A", 63.0),))
    controller = SiteController(
        "test",
        site,
        setups,
        meter,
        policy=Policy(**policy),
        timing=LoopTiming(),
        clocks=Clocks(clock),
    )
    return Rig(clock, chargers, meter, controller, log)


async def test_writes_the_allocation_and_only_changes() -> None:
    rig = make_rig()
    await rig.advance(0)
    assert rig.offered() == [16.0, 16.0]
    written = len(rig.log)
    await rig.advance(1)
    assert len(rig.log) == written  # nothing changed, nothing written


async def test_evs_drawing_over_their_offers_bring_the_grid_back_within_its_limit() -> None:
    # Each EV draws 0.5 A over its offer: 20 A each on 40 A read 41 A at every reading, each an
    # overload, and the offers stayed. They make room for the excess at the first reading that
    # shows it and stay put; what the site shows for each EV is what it draws.
    rig = make_rig(grid_limit_a=40.0)
    for charger in rig.chargers:
        charger.overdraw_a = 0.5
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    await rig.advance(0.2)
    assert rig.offered() == [19.5, 19.5]
    for _ in range(50):
        await rig.advance(0.2)
        grid = rig.controller.grid_reading()
        assert grid is not None and grid.current_a == (40.0, 40.0, 40.0)
        assert not rig.controller._overloaded.is_set()
    assert rig.offered() == [19.5, 19.5]
    view = rig.controller.snapshot().connectors[0]
    assert (view.offered_current_a, view.measured_current_a) == (19.5, (20.0, 20.0, 20.0))


async def test_evs_drawing_far_over_their_offers_are_counted_whole_on_the_grid_and_noted() -> None:
    # 3 A over on each EV: counted at 2 A the grid stayed at 42 A on 40 A, every reading an
    # overload. The grid counts the whole excess, and the site's notes name each EV read more
    # than 2 A over its offer.
    rig = make_rig(grid_limit_a=40.0)
    for charger in rig.chargers:
        charger.overdraw_a = 3.0
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    for _ in range(50):
        await rig.advance(0.2)
    assert rig.offered() == [17.0, 17.0]
    grid = rig.controller.grid_reading()
    assert grid is not None and grid.current_a == (40.0, 40.0, 40.0)
    assert not rig.controller._overloaded.is_set()
    assert rig.controller.snapshot().allocation_notes == (
        "c1:1 reads 3 A over its offer",
        "c2:1 reads 3 A over its offer",
    )


async def test_overload_is_answered_by_the_next_step() -> None:
    rig = make_rig()
    await rig.advance(0)
    rig.meter.building_a = 10.0
    await rig.advance(0.1)
    assert rig.offered() == [11.0, 11.0]
    assert rig.controller.allocation is not None
    assert "grid L1 32 A" in rig.controller.allocation.connectors["c1:1"].reason


async def test_decreases_are_written_before_increases() -> None:
    rig = make_rig(grid_limit_a=40.0)
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    rig.chargers[0].state = CpState.A  # unplugged: its 20 A go to the other
    rig.log.clear()
    await rig.advance(10)
    assert rig.log == [("c1:1", 0.0), ("c2:1", 32.0)]


async def test_a_step_that_lowers_and_raises_allocates_once_more_only_for_the_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Decreases wait for paired readings only where nothing rises, so a step that moves current
    # from one connector to another needs no allocation to confirm its decrease: the decision
    # and the cautious one for the raise are all (the third cost a whole decision for nothing).
    rig = make_rig(grid_limit_a=40.0)
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    calls: list[float] = []

    def counted(*args: Any, **kwargs: Any) -> Allocation:
        calls.append(kwargs["now_s"])
        return allocate(*args, **kwargs)

    monkeypatch.setattr(site_controller, "allocate", counted)
    await rig.advance(1)  # nothing changes: one decision
    assert len(calls) == 1
    rig.chargers[0].state = CpState.A  # unplugged: c2 may take its 20 A
    calls.clear()
    await rig.advance(10)
    assert rig.offered() == [0.0, 32.0]
    assert len(calls) == 2


async def test_stale_grid_meter_falls_back() -> None:
    rig = make_rig()
    await rig.advance(0)
    rig.meter.answering = False
    with capture_logs() as logs:
        for _ in range(12):
            await rig.advance(1)
    assert rig.offered() == [6.0, 6.0]
    assert "stale" in rig.controller.allocation.connectors["c1:1"].reason  # type: ignore[union-attr]
    assert sum(1 for e in logs if e["event"] == "device not answering") == 1


async def test_silent_charger_is_assumed_at_its_maximum_then_rewritten() -> None:
    rig = make_rig(grid_limit_a=63.0)
    await rig.advance(0)
    assert rig.offered() == [31.5, 31.5]
    rig.chargers[0].answering = False
    for _ in range(11):
        await rig.advance(1)
    # What the silent one draws (31.5 A) is building load for all we know, and it may rise to
    # its 32 A maximum: 63 - 31.5 - 32 leaves nothing for the other.
    assert rig.chargers[1].offered_a == 0.0
    alloc = rig.controller.allocation
    assert alloc is not None and "not answering" in alloc.connectors["c1:1"].reason
    rig.chargers[0].answering = True
    rig.chargers[0].offered_a = 6.0  # it fell back on its own while silent
    failsafe_before = len(rig.chargers[0].failsafe)
    await rig.advance(1)
    assert len(rig.chargers[0].failsafe) == failsafe_before + 1  # re-programmed
    assert rig.log[-1] == ("c1:1", rig.controller.allocation.current_a("c1:1"))  # type: ignore[union-attr]


async def test_watchdog_programmed_and_shutdown_sets_safe_current() -> None:
    rig = make_rig()
    await rig.advance(0)
    assert rig.chargers[0].failsafe == [(6.0, 15.0)]
    await rig.controller.shutdown()
    assert rig.offered() == [6.0, 6.0]
    rig.log.clear()
    await rig.advance(5)
    assert rig.log == []  # no decisions after shutdown


async def test_operator_commands_and_external_limits() -> None:
    rig = make_rig(grid_limit_a=63.0)
    await rig.controller.apply(SetSiteLimit(20.0))
    await rig.advance(0)
    assert rig.offered() == [10.0, 10.0]
    assert "operator site limit" in rig.controller.snapshot().connectors[0].limit_reason
    await rig.controller.apply(SetSiteLimit(None))
    rig.controller.set_external_limits("c2:1", [Limit(7.0, "csms profile 17")])
    await rig.controller.apply(SetConnectorEnabled("c1:1", False))
    await rig.advance(10)
    view = {c.connector_id: c for c in rig.controller.snapshot().connectors}
    assert view["c1:1"].offered_current_a == 0
    assert view["c1:1"].availability is Availability.UNAVAILABLE
    assert view["c2:1"].offered_current_a == 7.0
    assert view["c2:1"].limit_reason == "csms profile 17"
    with pytest.raises(ValueError, match="unknown connector"):
        await rig.controller.apply(SetConnectorLimit("nope:1", 10.0))
    with pytest.raises(ValueError, match="negative"):
        await rig.controller.apply(SetConnectorLimit("c1:1", -1.0))
    with pytest.raises(ValueError, match="not a balancing command"):
        await rig.controller.apply(StartSession("c1:1", "tag"))  # type: ignore[arg-type]


async def test_failed_write_is_logged_once_and_retried() -> None:
    rig = make_rig()
    await rig.advance(0)
    rig.meter.building_a = 12.0

    async def refuse(current_a: float) -> None:
        raise DeviceUnavailable("bus busy")

    original = rig.chargers[0].set_current
    rig.chargers[0].set_current = refuse  # type: ignore[method-assign]
    with capture_logs() as logs:
        await rig.advance(0.5)
        await rig.advance(0.5)
    assert sum(1 for e in logs if e["event"] == "setpoint write failed") == 1
    rig.chargers[0].set_current = original  # type: ignore[method-assign]
    await rig.advance(0.5)
    assert rig.chargers[0].offered_a == rig.controller.allocation.current_a("c1:1")  # type: ignore[union-attr]


async def test_unsafe_fallback_budget_is_reported() -> None:
    clock, log = Clock(), list[tuple[str, float]]()
    chargers = [MemoryCharger(f"c{i}:1", log) for i in range(6)]
    setups = [ConnectorSetup(c.name, c, failsafe_current_a=10.0) for c in chargers]
    controller = SiteController("t", Site(grid_limit_a=32.0), setups, None, clocks=Clocks(clock))
    assert controller.failsafe_problems == [
        f"grid L{phase} 32 A: all at failsafe draw 60 A" for phase in (1, 2, 3)
    ]


async def test_watchdog_programming_failures_are_logged_once() -> None:
    rig = make_rig()
    calls: list[str] = []

    async def not_supported(current_a: float, timeout_s: float) -> None:
        calls.append("c1")
        raise NotSupported("no watchdog register")

    async def busy(current_a: float, timeout_s: float) -> None:
        calls.append("c2")
        raise DeviceUnavailable("bus busy")

    rig.chargers[0].program_failsafe = not_supported  # type: ignore[method-assign]
    rig.chargers[1].program_failsafe = busy  # type: ignore[method-assign]
    with capture_logs() as logs:
        for _ in range(3):
            await rig.advance(1)
    assert calls.count("c1") == 1  # a model without a watchdog is not asked again
    assert calls.count("c2") == 3  # a busy bus is retried every step...
    events = [e["event"] for e in logs]
    assert events.count("charger has no watchdog") == 1
    assert events.count("watchdog not programmed") == 1  # ...but logged once


async def test_session_gate_offers_nothing_until_authorised_and_relays_statuses() -> None:
    clock, log = Clock(), list[tuple[str, float]]()
    chargers = [MemoryCharger(f"c{i}:1", log) for i in (1, 2)]
    seen: list[tuple[str, CpState]] = []
    setups = [ConnectorSetup(c.name, c, authorized_at_start=False) for c in chargers]
    controller = SiteController(
        "test",
        Site(grid_limit_a=32.0),
        setups,
        GridMeter(chargers),
        clocks=Clocks(clock),
        hooks=LoopHooks(on_status=lambda cid, status: seen.append((cid, status.state))),
    )
    rig = Rig(clock, chargers, GridMeter(chargers), controller, log)
    await rig.advance(0)
    assert rig.offered() == [0.0, 0.0]
    view = controller.snapshot().connectors[0]
    assert view.limit_reason.startswith("waiting for authorisation")
    assert ("c1:1", CpState.C) in seen and ("c2:1", CpState.C) in seen
    controller.authorize_charging("c1:1", True)
    await rig.advance(1)
    assert rig.offered() == [32.0, 0.0]  # the whole grid goes to the one authorised session
    controller.authorize_charging("c1:1", False)
    await rig.advance(1)
    assert rig.offered() == [0.0, 0.0]  # a decrease is applied at once
    with pytest.raises(ValueError, match="unknown connector"):
        controller.authorize_charging("nope:1", True)


async def test_a_plugged_ev_waiting_for_a_session_is_preparing() -> None:
    clock, log = Clock(), list[tuple[str, float]]()
    charger = MemoryCharger("c1:1", log, state=CpState.B)
    controller = SiteController(
        "test",
        Site(grid_limit_a=32.0),
        [ConnectorSetup("c1:1", charger, authorized_at_start=False)],
        GridMeter([charger]),
        clocks=Clocks(clock),
    )
    rig = Rig(clock, [charger], GridMeter([charger]), controller, log)
    await rig.advance(0)
    assert controller.snapshot().connectors[0].availability is Availability.PREPARING
    controller.authorize_charging("c1:1", True)
    await rig.advance(1)
    assert controller.snapshot().connectors[0].availability is not Availability.PREPARING


async def test_a_charger_reading_newer_than_the_grid_reading_cannot_hide_building_load() -> None:
    # The grid was sampled before the EV ramped up; its charger was read after. Subtracting the
    # newer, higher draw would make the building look 22 A lighter and overshoot the fuse.
    rig = make_rig(count=1, grid_limit_a=40.0, increase_interval_s=0.0, min_increase_a=0.0)
    rig.meter.building_a = 10.0
    await rig.advance(0)
    assert rig.offered() == [30.0]  # 40 A fuse - 10 A building
    rig.chargers[0].offered_a = 20.0  # the EV drew only 20 A when the grid was sampled ...
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    rig.chargers[0].offered_a = 30.0  # ... and its full 30 A when its own meter was read
    rig.clock.now_s += 0.5
    for conn in rig.controller._conns.values():
        assert conn.meter is not None
        await conn.meter.poll_once()
    rig.clock.now_s += 0.1
    await rig.controller.step()
    allocation = rig.controller.allocation
    assert allocation is not None
    # Building = 30 - 30 = 0 A from the misaligned pair: the offer would rise to the 32 A max.
    assert rig.offered() == [30.0]
    assert (
        allocation.connectors["c1:1"].reason
        == "grid L1 40 A; waiting for a grid reading after the ramp"
    )


async def test_a_fresh_grid_reading_confirms_the_increase() -> None:
    rig = make_rig(count=1, grid_limit_a=50.0, increase_interval_s=0.0, min_increase_a=0.0)
    rig.meter.building_a = 20.0
    await rig.advance(0)
    assert rig.offered() == [30.0]
    rig.meter.building_a = 10.0  # the building needs less: a real increase is allowed
    await rig.advance(1)
    await rig.advance(1)
    assert rig.offered() == [32.0]


async def _at_24_a_after_a_raise() -> Rig:
    """One EV raised from 12 A to its whole 24 A when the building left (a 24 A fuse)."""
    rig = make_rig(count=1, grid_limit_a=24.0, increase_interval_s=0.0, min_increase_a=0.0)
    rig.meter.building_a = 12.0
    await rig.advance(0)
    rig.meter.building_a = 0.0
    await rig.advance(1)
    await rig.advance(1)
    assert rig.offered() == [24.0]
    return rig


async def _grid_then_charger_late(rig: Rig, *, before_a: float, after_a: float) -> None:
    """The charger is read while its EV draws ``before_a``, then the grid once it draws
    ``after_a``; the loop steps on the grid reading, its charger not read since."""
    charger = rig.chargers[0]
    charger.offered_a = before_a
    rig.clock.now_s += 0.1
    meter = rig.controller._conns["c1:1"].meter
    assert meter is not None
    await meter.poll_once()
    charger.offered_a = after_a
    rig.clock.now_s += 0.5
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    rig.clock.now_s += 0.05
    await rig.controller.step()


def _offer_a(rig: Rig) -> float:
    allocation = rig.controller.allocation
    assert allocation is not None
    return allocation.current_a("c1:1")


async def test_a_decrease_only_a_charger_reading_older_than_the_grid_shows_is_held() -> None:
    # The EV followed the raise between its charger's reading (12 A) and the grid's (24 A):
    # 24 - 12 looks like 12 A of building load and would cut it back to 12 A for nothing.
    rig = await _at_24_a_after_a_raise()
    await _grid_then_charger_late(rig, before_a=12.0, after_a=24.0)
    assert rig.offered() == [24.0]
    assert rig.controller.reactions.count == 0
    await rig.advance(1)  # read again: nothing to lower
    assert rig.offered() == [24.0]


async def test_the_same_decrease_with_the_grid_over_its_limit_goes_out_at_once() -> None:
    rig = await _at_24_a_after_a_raise()
    rig.meter.building_a = 1.0  # the grid reads 25 A: the fuse first, whatever the readings
    with capture_logs() as logs:
        await _grid_then_charger_late(rig, before_a=12.0, after_a=24.0)
    assert rig.offered() == [11.0]  # 25 - 12 = 13 A of building load as read
    assert [e["reaction_ms"] for e in logs if e["event"] == "setpoints lowered"] == [
        pytest.approx(50.0)
    ]


async def test_a_real_rise_within_the_limit_is_answered_once_the_readings_pair() -> None:
    # The EV takes 12 A of its 24 A; the building rises 6 A: the grid reads 18 A, within the
    # fuse. Held while the readings may still pair (the EV might have ramped), also over the
    # next grid reading while the charger's read asked for comes late (under load it came
    # after it), and lowered once that read pairs the grid reading the hold began on. The EVs
    # never ramp into a building rise for longer: the wait bets only on the EV raised lately,
    # a grid reading that shows it ramping lowers at once (the next test), and where another
    # EV could still draw more, up to its offer, nothing waits (the one after).
    rig = await _at_24_a_after_a_raise()
    rig.meter.building_a = 6.0
    await _grid_then_charger_late(rig, before_a=12.0, after_a=12.0)
    assert _offer_a(rig) == 24.0
    rig.clock.now_s += 0.5
    await rig.controller.step()  # a tick, no new grid reading: still held
    assert _offer_a(rig) == 24.0
    rig.clock.now_s += 0.45
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await rig.controller.step()  # the next grid reading, as level, the charger not read yet
    assert _offer_a(rig) == 24.0
    rig.clock.now_s += 0.2
    meter = rig.controller._conns["c1:1"].meter
    assert meter is not None
    await meter.poll_once()  # still 12 A: the 18 A the grid read is 6 A of building
    await rig.controller.step()
    assert _offer_a(rig) == 18.0


async def test_a_held_decrease_goes_out_when_the_grid_reads_more_than_it_was_held_on() -> None:
    # As above, but the EV ramps into the building's rise before its charger is read again:
    # the next grid reading is higher (24 A, at the fuse), and nothing waits for the pairing:
    # the decrease goes out as read (24 - 12 A read before the ramp: 12 A of building).
    rig = await _at_24_a_after_a_raise()
    rig.meter.building_a = 6.0
    await _grid_then_charger_late(rig, before_a=12.0, after_a=12.0)
    assert _offer_a(rig) == 24.0
    rig.chargers[0].offered_a = 18.0
    rig.clock.now_s += 0.95
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await rig.controller.step()
    assert _offer_a(rig) == 12.0


async def _read(rig: Rig, index: int, at_s: float) -> None:
    """Charger ``index`` read (status and meter) at ``at_s``."""
    rig.clock.now_s = at_s
    conn = list(rig.controller._conns.values())[index]
    await conn.status.poll_once()
    assert conn.meter is not None
    await conn.meter.poll_once()


async def _grid_step(rig: Rig, at_s: float) -> None:
    """The grid read at ``at_s``, the loop stepping on it at once."""
    rig.clock.now_s = at_s
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await rig.controller.step()


def _raised_pair_rig(grid_limit_a: float) -> Rig:
    """Two EVs on ``grid_limit_a``, offers in 0.5 A steps, raised at most every second."""
    return make_rig(
        count=2,
        grid_limit_a=grid_limit_a,
        increase_interval_s=1.0,
        min_increase_a=1.0,
        resolution_a=0.5,
        min_pause_s=2.0,
        min_charge_s=2.0,
    )


async def _raise_from_building(rig: Rig, building_a: float) -> float:
    """The building at ``building_a`` for 6 s (c1 at 6 A, c2 paused), then gone: both EVs
    raised in the next step, whose time is returned."""
    rig.meter.building_a = building_a
    for _ in range(12):
        await rig.advance(0.5)
    assert rig.offered() == [6.0, 0.0]  # c2 paused: 6 A left beside the building
    rig.meter.building_a = 0.0
    await rig.advance(0.5)
    return rig.clock.now_s


async def _c1_ramps_while_c2_lags(rig: Rig, raised_s: float, offer_a: float) -> None:
    """The readings as they came after the raise: neither EV follows at first (c1 at 6 A, c2
    at 0 A, read around a grid reading of 6 A); then c1 ramps to ``offer_a`` by the next grid
    reading, which holds the decrease as c1's ramp, and both chargers are read at once after
    it (c2 still at 0 A)."""
    c1, c2 = rig.chargers
    c1.offered_a, c2.offered_a = 6.0, 0.0
    await _read(rig, 0, raised_s + 0.53)
    await _read(rig, 1, raised_s + 0.46)
    await _grid_step(rig, raised_s + 0.95)  # 6 A
    await _read(rig, 1, raised_s + 0.96)
    await _read(rig, 0, raised_s + 1.03)
    c1.offered_a = offer_a  # c1 follows
    await _grid_step(rig, raised_s + 1.457)  # held as c1's ramp
    assert _offers(rig) == [offer_a, offer_a]
    await _read(rig, 1, raised_s + 1.462)  # still 0 A: c2 has not followed yet
    await _read(rig, 0, raised_s + 1.464)


async def test_a_second_ev_ramping_a_grid_reading_after_the_first_is_no_building_rise() -> None:
    # The readings of a child at its 24 A budget, its feeder meter and its chargers polled every
    # 0.5 s, as one of them came (times from the raise): c1 raised 6 -> 12 A and c2 started 0 ->
    # 12 A; c1 ramps by the feeder's reading at 1.46 s (12 A), read before at 6 A, c2 by its
    # reading at 1.96 s (24 A), read at 0 A just before and just after the 12 A reading. The
    # 12 A reading holds the decrease 6 A of building seems to ask for (c1's ramp); the 24 A
    # reading came once both chargers' reads had paired the 12 A one: that ended the hold,
    # and 24 A less 12 + 0 A read seemed 12 A of building, which cut both EVs to 6 A for the
    # settling time. What the 24 A reading shows over the 12 A one is no more than c2 was
    # short of its offer around it: c2's ramp, bet on afresh until the readings pair it.
    rig = _raised_pair_rig(24.0)
    raised_s = await _raise_from_building(rig, 18.0)
    assert rig.offered() == [12.0, 12.0]
    await _c1_ramps_while_c2_lags(rig, raised_s, 12.0)  # 12 A: 6 A of building as read, held
    rig.chargers[1].offered_a = 12.0  # c2 follows
    await _grid_step(rig, raised_s + 1.958)  # 24 A
    assert _offers(rig) == [12.0, 12.0]
    await _read(rig, 1, raised_s + 1.962)
    await _read(rig, 0, raised_s + 1.964)
    await _grid_step(rig, raised_s + 2.46)  # the readings pair the 24 A one: no building
    assert _offers(rig) == [12.0, 12.0]
    assert rig.offered() == [12.0, 12.0]


async def test_a_building_rise_read_like_the_second_evs_ramp_is_held_one_reading_only() -> None:
    # The readings of the test above, but the 24 A reading's rise is the building's (c2 has
    # not followed): it looks the same as c2's ramp until the chargers' reads pair it, so the
    # decrease waits for that reading (the bet a hold's first reading makes too), and no longer.
    rig = _raised_pair_rig(24.0)
    raised_s = await _raise_from_building(rig, 18.0)
    assert rig.offered() == [12.0, 12.0]
    await _c1_ramps_while_c2_lags(rig, raised_s, 12.0)
    rig.meter.building_a = 12.0  # the building rises; c2 still draws nothing
    await _grid_step(rig, raised_s + 1.958)  # 24 A: c1's 12 A and the building's 12 A
    assert _offers(rig) == [12.0, 12.0]  # read as c2's ramp: held
    await _read(rig, 1, raised_s + 1.962)  # c2 at 0 A after the 24 A reading too
    await _read(rig, 0, raised_s + 1.964)
    await _grid_step(rig, raised_s + 2.46)
    assert sum(_offers(rig)) <= 24.0 - 12.0  # the building's 12 A taken off at once


async def test_a_later_grid_reading_above_what_the_raised_evs_lacked_lowers_at_once() -> None:
    # As above on a 40 A fuse, each EV at its 16 A operator limit: the 16 A reading holds the
    # decrease c1's ramp seems to ask for, c2 read at 0 A around it. The next reads 40 A,
    # within the fuse: 24 A more, where c2 lacked only 16 A of its offer. That much is not
    # c2's ramp alone: the decrease goes out as read (40 - 16 - 0 = 24 A of building).
    rig = _raised_pair_rig(40.0)
    for name in ("c1:1", "c2:1"):
        await rig.controller.apply(SetConnectorLimit(name, 16.0, Origin.OPERATOR))
    raised_s = await _raise_from_building(rig, 34.0)
    assert rig.offered() == [16.0, 16.0]
    await _c1_ramps_while_c2_lags(rig, raised_s, 16.0)  # 16 A: held
    rig.meter.building_a = 24.0
    await _grid_step(rig, raised_s + 1.958)  # 40 A
    assert _offers(rig) == [8.0, 8.0]


# One EV capped at 20 A on a 32 A fuse, raised 12 -> 20 A when the building fell from 20 to
# 8 A, and read at 12 A around the grid reading after (20 A). The building then rises while
# the EV has not followed: the grid reads 28 A (8 A more: what the EV lacked of its offer, its
# ramp as far as the readings tell) or 28.7 A (0.7 A more than it lacked). A held decrease
# bets the reading shows the ramp: more than the ramp can add is building load whatever the EV
# does, and the EV would ramp on top of it (36.7 A), so the decrease goes out at once. (With a
# margin of an increase step, 1 A, such a rise was held and the EV ramped into it: 5.5 A*s
# over 32 A in the physics test's draw.)
@pytest.mark.parametrize(("building_a", "offer_a"), [(16.0, 20.0), (16.7, 15.3)])
async def test_a_rise_above_what_the_raised_ev_can_still_ramp_by_lowers_at_once(
    building_a: float, offer_a: float
) -> None:
    rig = make_rig(count=1, grid_limit_a=32.0, increase_interval_s=0.0)  # 1 A increase step
    await rig.controller.apply(SetConnectorLimit("c1:1", 20.0, Origin.OPERATOR))
    rig.meter.building_a = 20.0
    await rig.advance(0)
    await rig.advance(1)
    assert rig.offered() == [12.0]
    rig.meter.building_a = 8.0
    await rig.advance(1)
    assert rig.offered() == [20.0]
    raised_s = rig.clock.now_s
    rig.chargers[0].offered_a = 12.0  # the EV has not followed yet
    await _read(rig, 0, raised_s + 0.3)
    await _grid_step(rig, raised_s + 0.5)  # 20 A, paired by the reads either side
    await _read(rig, 0, raised_s + 0.6)
    rig.meter.building_a = building_a
    await _read(rig, 0, raised_s + 0.8)
    await _grid_step(rig, raised_s + 1.0)
    assert _offer_a(rig) == offer_a


@pytest.mark.parametrize("building_rose", [False, True])
async def test_a_reading_over_the_limit_before_evs_followed_a_lowering_is_acted_on(
    building_rose: bool,
) -> None:
    # The end-to-end overload test's timeline on one phase: five EVs at 9 A on a 50 A fuse,
    # offers in 1 A steps, the building stepping 5 -> 12 A. The 57 A reading lowers them to 7 A
    # each (10 A shed where 8 A was left above the minimums). The next grid reading is 57 A
    # again, the chargers read at 9 A just before it and at 7 A just after: the EVs followed
    # between their two reads. Whether they did so after the grid reading (12 A of building,
    # every minimum fits: 30 + 12 A) or before it while the building rose another 10 A (22 A: 30
    # + 22 A is over the fuse) the readings cannot tell: they are the same. Over the limit
    # nothing waits for readings that could tell (a hold bets only on a reading within the
    # limits), so the step on the chargers' reads takes the reading as it pairs with them, 22 A
    # of building, and pauses an EV; that is the choice that keeps the fuse if the building did
    # rise, and one that kept all five at 7 A would read 57 A again. The price, when the EVs had
    # only lagged: an EV whose minimum fitted stays paused for min_pause_s (and while the others
    # follow the lowering), though the next reading shows room for it.
    rig = make_rig(
        count=5,
        grid_limit_a=50.0,
        increase_interval_s=1.0,
        min_increase_a=1.0,
        resolution_a=1.0,
        min_pause_s=2.0,
        min_charge_s=2.0,
    )
    rig.meter.building_a = 5.0
    for _ in range(16):
        await rig.advance(0.5)
    assert rig.offered() == [9.0] * 5
    start_s = rig.clock.now_s
    rig.meter.building_a = 12.0
    await _grid_step(rig, start_s + 0.5)  # 57 A: 45 A of ours, 12 A of building
    assert _offers(rig) == [7.0] * 5
    for charger in rig.chargers:
        charger.offered_a = 9.0  # the EVs have not followed yet
    for index in range(5):
        await _read(rig, index, start_s + 0.8 + index * 0.01)
    if building_rose:
        for charger in rig.chargers:
            charger.offered_a = 7.0
        rig.meter.building_a = 22.0
    await _grid_step(rig, start_s + 1.0)  # 57 A either way
    assert (await rig.meter.read()).current_a == (57.0, 57.0, 57.0)
    assert _offers(rig) == [7.0] * 5  # paired with the reads at 9 A just before: 12 A
    for charger in rig.chargers:
        charger.offered_a = 7.0
    for index in range(5):
        await _read(rig, index, start_s + 1.05 + index * 0.01)
    rig.clock.now_s = start_s + 1.2
    await rig.controller.step()  # the reads at 7 A: 57 - 35 = 22 A of building
    assert sorted(_offers(rig)) == [0.0, 7.0, 7.0, 7.0, 7.0]
    await _grid_step(rig, start_s + 1.5)
    assert max((await rig.meter.read()).current_a) <= 50.0  # 50 A if the building rose
    if building_rose:
        return
    assert sorted(_offers(rig)) == [0.0, 7.0, 7.0, 7.0, 7.0]  # 40 A read: room, still paused
    for step in range(20):
        await _grid_step(rig, start_s + 2.0 + step * 0.5)
        for index in range(5):
            await _read(rig, index, start_s + 2.05 + step * 0.5 + index * 0.01)
    assert _offers(rig) == [7.0] * 5  # back once the pause and the lowering are over


def _offers(rig: Rig) -> list[float]:
    allocation = rig.controller.allocation
    assert allocation is not None
    return [allocation.current_a(c.name) for c in rig.chargers]


async def test_a_rise_within_the_limit_goes_out_at_once_while_a_paused_ev_may_resume() -> None:
    # Two EVs at 12 A on a 24 A fuse, raised long ago; c2's EV pauses, its offer kept. The
    # building takes 12 A: the grid reads 24 A, within the fuse, c1's charger not read since.
    # Held, c2's EV could resume to 12 A during the wait and the grid read 36 A: a decrease
    # waits only while the grid stays within the limit with every EV not raised lately at
    # its offer, so the offers fall at once: c1 to 6 A; c2, paused, to nothing, as 6 A would
    # fit only once c1 has come down from 12 A (resumed before, 30 A on the fuse).
    rig = make_rig(count=2, grid_limit_a=24.0, increase_interval_s=0.0, min_increase_a=0.0)
    rig.meter.building_a = 12.0
    await rig.advance(0)
    rig.meter.building_a = 0.0
    for _ in range(8):  # raised to 12 A each, then level for longer than EVs take to follow
        await rig.advance(1)
    rig.chargers[1].state = CpState.B
    await rig.advance(1)
    assert rig.offered() == [12.0, 12.0]
    rig.meter.building_a = 12.0
    rig.clock.now_s += 0.5
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    rig.clock.now_s += 0.05
    await rig.controller.step()
    assert rig.offered() == [6.0, 0.0]


# A raised EV that asks for current (state C) and draws nothing once it could have followed
# has paused itself: a held decrease must not bet that the grid reading shows its ramp, for it
# may resume into a real rise. Raised at 100 s, the raise reaching it at 101 s (signal delay).
@pytest.mark.parametrize(
    ("begun_s", "read_a", "paused"),
    [
        (102.0, (0.0, 0.0, 0.0), True),
        (102.0, (0.3, 0.2, 0.0), True),  # its standby draw, within IDLE_DRAW_A
        (101.5, (0.0, 0.0, 0.0), False),  # begun too soon: it may still be starting
        (102.0, (9.0, 0.0, 0.0), False),  # a torn reading of its ramp (one register at a time)
        (102.0, (1.0, 1.0, 1.0), False),  # ramping slowly: a little, not nothing
        (102.0, (6.0, 0.0, 0.0), False),  # a one-phase EV drawing on L1 only
    ],
)
def test_a_raised_ev_asking_and_drawing_nothing_has_paused_itself(
    begun_s: float, read_a: tuple[float, float, float], paused: bool
) -> None:
    rig = make_rig(count=1)
    conn = rig.controller._conns["c1:1"]
    conn.record(Sample(begun_s, begun_s + 0.3, read_a))
    offer = ConnectorAllocation("c1:1", 12.0, "", increased_at_s=100.0)
    offers = Allocation(103.0, {"c1:1": offer}, (0.0,) * 3, (0.0,) * 3, False)
    asking = ConnectorDemand("c1:1", DemandState.CHARGING, measured_current_a=read_a)
    assert rig.controller._paused_itself(asking, conn, offers) is paused
    # Unread now (stale), it is not taken as paused by this rule: the loop counts it otherwise.
    unread = replace(asking, measured_current_a=None)
    assert rig.controller._paused_itself(unread, conn, offers) is False


# An EV that does not ask for current (state B) in a status read begun once its offer had
# switched on there paused itself, and stays so when raised: not asking does not depend on
# how much is offered. Switched on at 90 s (reaching it at 91 s), raised at 100 s (101 s).
@pytest.mark.parametrize(
    ("begun_s", "paused"),
    [
        (100.5, True),  # read before the raise reached it: taken for a start read too early
        (91.0, True),
        (101.0, True),
        (90.5, False),  # begun before its offer reached it: it may still be starting
    ],
)
async def test_an_ev_not_asking_on_its_offer_has_paused_itself_though_raised_since(
    begun_s: float, paused: bool
) -> None:
    rig = make_rig(count=1)
    conn = rig.controller._conns["c1:1"]
    rig.chargers[0].state = CpState.B
    rig.clock.now_s = begun_s
    await conn.status.poll_once()
    offer = ConnectorAllocation("c1:1", 12.0, "", changed_at_s=90.0, increased_at_s=100.0)
    offers = Allocation(103.0, {"c1:1": offer}, (0.0,) * 3, (0.0,) * 3, False)
    waiting = ConnectorDemand("c1:1", DemandState.WAITING, measured_current_a=(0.0, 0.0, 0.0))
    assert rig.controller._paused_itself(waiting, conn, offers) is paused


# An EV asking for current (state C) that drew on its offer and draws nothing now paused
# itself, though raised since: one paused in state C on 9.3 A and raised to 16 A, read again
# only before the raise reached it, was taken for a start read too early and resumed beside an
# EV still following a lowering. A start that has not drawn yet may still be ramping, and so
# may an EV seen not asking (state B) since it drew: it is resuming. Switched on at 90 s,
# raised at 100 s (reaching it at 101 s), read at 0 A in a reading begun at 100.5 s.
@pytest.mark.parametrize(
    ("drew", "not_asking_s", "paused"),
    [
        ((95.0, (9.3, 9.3, 9.3)), None, True),
        ((95.0, (9.3, 0.0, 0.0)), None, True),  # a torn reading as it stopped
        ((95.0, (9.3, 9.3, 9.3)), 93.0, True),  # seen not asking before it drew again
        ((95.0, (0.0, 0.0, 0.0)), None, False),  # a start not drawing yet: it may be slow
        ((95.0, (0.4, 0.0, 0.0)), None, False),  # its standby draw is no draw
        ((89.5, (9.3, 9.3, 9.3)), None, False),  # drew before its offer switched on
        ((95.0, (9.3, 9.3, 9.3)), 97.0, False),  # seen not asking since: it is resuming
    ],
)
async def test_an_ev_asking_that_drew_on_its_offer_and_draws_nothing_has_paused_itself(
    drew: tuple[float, tuple[float, float, float]], not_asking_s: float | None, paused: bool
) -> None:
    rig = make_rig(count=1)
    conn = rig.controller._conns["c1:1"]
    if not_asking_s is not None:
        rig.chargers[0].state = CpState.B
        rig.clock.now_s = not_asking_s
        await conn.status.poll_once()
    drew_s, drew_a = drew
    conn.record(Sample(drew_s, drew_s + 0.3, drew_a))
    conn.record(Sample(100.5, 100.8, (0.0, 0.0, 0.0)))
    offer = ConnectorAllocation("c1:1", 16.0, "", changed_at_s=90.0, increased_at_s=100.0)
    offers = Allocation(101.0, {"c1:1": offer}, (0.0,) * 3, (0.0,) * 3, False)
    asking = ConnectorDemand("c1:1", DemandState.CHARGING, measured_current_a=(0.0, 0.0, 0.0))
    assert rig.controller._paused_itself(asking, conn, offers) is paused


# As above, paused longer than its readings kept (drew at 55 s, then read at nothing once a
# second): the draw is remembered past them.
async def test_an_ev_asking_that_drew_keeps_having_paused_itself_past_the_readings_kept() -> None:
    rig = make_rig(count=1)
    conn = rig.controller._conns["c1:1"]
    conn.record(Sample(55.0, 55.3, (9.3, 9.3, 9.3)))
    for begun_s in [*range(56, 100), 100.5]:
        conn.record(Sample(float(begun_s), begun_s + 0.3, (0.0, 0.0, 0.0)))
    assert max(max(conn.history.current_a(i)) for i in range(len(conn.history))) == 0.0
    offer = ConnectorAllocation("c1:1", 16.0, "", changed_at_s=50.0, increased_at_s=100.0)
    offers = Allocation(101.0, {"c1:1": offer}, (0.0,) * 3, (0.0,) * 3, False)
    asking = ConnectorDemand("c1:1", DemandState.CHARGING, measured_current_a=(0.0, 0.0, 0.0))
    assert rig.controller._paused_itself(asking, conn, offers) is True


async def test_a_lowering_reports_its_reaction_time_from_the_grid_reading() -> None:
    rig = make_rig()
    await rig.advance(0)
    rig.meter.building_a = 10.0
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    rig.clock.now_s += 0.05  # the loop runs 50 ms after the reading arrived
    with capture_logs() as logs:
        await rig.controller.step()
    lowered = [e for e in logs if e["event"] == "setpoints lowered"]
    assert len(lowered) == 1
    assert lowered[0]["connectors"] == 2
    assert lowered[0]["reaction_ms"] == pytest.approx(50.0)
    assert lowered[0]["waited_ms"] == pytest.approx(50.0)  # all of it before the step began
    assert lowered[0]["decided_ms"] == pytest.approx(0.0)  # the clock stood still after that
    reactions = rig.controller.reactions  # /metrics' histogram has the same reaction
    assert (reactions.count, reactions.sum_s) == (1, pytest.approx(0.05))
    assert dict(reactions.cumulative())[0.025] == 0 and dict(reactions.cumulative())[0.05] == 1
    with capture_logs() as logs:
        await rig.advance(0.1)  # nothing lowered: nothing reported
    assert not [e for e in logs if e["event"] == "setpoints lowered"]
    assert rig.controller.reactions.count == 1


async def test_the_reaction_line_names_the_write_that_came_last_and_the_slowest() -> None:
    """Where the writing went: c1's bus answers 80 ms late, c2's at once."""
    rig = make_rig()
    await rig.advance(0)
    slow = rig.chargers[0].writes_wait_for = asyncio.Event()
    rig.meter.building_a = 10.0
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    with capture_logs() as logs:
        step = asyncio.create_task(rig.controller.step())
        await asyncio.wait_for(rig.chargers[0].waiting.wait(), 1.0)
        rig.clock.now_s += 0.08
        slow.set()
        await asyncio.wait_for(step, 1.0)
    [lowered] = [e for e in logs if e["event"] == "setpoints lowered"]
    assert lowered["connectors"] == 2
    assert lowered["last_connector"] == "c1:1"
    assert lowered["slowest_write_ms"] == pytest.approx(80.0)
    assert lowered["reaction_ms"] == pytest.approx(80.0)


async def test_a_lowering_without_an_overload_is_not_timed_as_a_reaction() -> None:
    rig = make_rig()
    await rig.advance(0)
    with capture_logs() as logs:
        await rig.controller.apply(SetSiteLimit(20.0, Origin.OPERATOR))  # lowers, grid not over
        await rig.advance(0.1)
    assert rig.offered() == [10.0, 10.0]
    assert not [e for e in logs if e["event"] == "setpoints lowered"]
    assert rig.controller.reactions.count == 0


async def test_each_overloading_reading_is_timed_once() -> None:
    rig = make_rig()
    await rig.advance(0)
    rig.meter.building_a = 10.0
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    rig.controller._conns["c1:1"].setup.charger.answering = False  # type: ignore[attr-defined]
    with capture_logs() as logs:
        await rig.controller.step()  # c2 lowered, c1's write fails
        rig.controller._conns["c1:1"].setup.charger.answering = True  # type: ignore[attr-defined]
        rig.clock.now_s += 0.4
        await rig.controller.step()  # c1 lowered now, on the same reading: not timed again
    lowered = [e for e in logs if e["event"] == "setpoints lowered"]
    assert [e["connectors"] for e in lowered] == [2]
    assert rig.controller.reactions.count == 1


@pytest.mark.parametrize("wiring", [(), (0, 0, 1), (1, 3), (0, 1, 2, 0)])
def test_a_connector_must_load_one_to_three_distinct_grid_phases(
    wiring: tuple[int, ...],
) -> None:
    charger = MemoryCharger("c1:1", [])
    with pytest.raises(ValueError, match="wiring"):
        ConnectorSetup("c1:1", charger, wiring=wiring)


async def test_a_setpoint_written_again_for_the_watchdog_asks_for_no_early_read() -> None:
    rig = make_rig()
    await rig.advance(0)
    conn = rig.controller._conns["c1:1"]
    assert conn.status._refresh_asked  # a new setpoint: its answer is read early
    assert conn.meter is not None and conn.meter._refresh_asked
    conn.status._refresh_asked = False
    conn.meter._refresh_asked = False
    written = len(rig.log)
    await rig.advance(conn.setup.failsafe_timeout_s / 3)  # the same value, for the watchdog
    assert len(rig.log) == written + 2
    assert not conn.status._refresh_asked
    assert not conn.meter._refresh_asked
    rig.meter.building_a = 10.0
    await rig.advance(0.1)  # lowered: read early again
    assert conn.status._refresh_asked and conn.meter._refresh_asked


async def test_the_values_the_watchdogs_must_hear_again_go_after_the_lowered_setpoints() -> None:
    rig = make_rig()
    await rig.controller.apply(SetConnectorLimit("c1:1", 6.0, Origin.OPERATOR))
    await rig.advance(0)
    assert rig.offered() == [6.0, 26.0]
    rig.log.clear()
    rig.meter.building_a = 10.0  # 42 A on a 32 A connection
    with capture_logs() as logs:
        await rig.advance(rig.controller._conns["c1:1"].setup.failsafe_timeout_s / 3)
    # c1's 6 A again (its watchdog is due) waits until the overload's answer is written.
    assert rig.log == [("c2:1", 16.0), ("c1:1", 6.0)]
    assert [e["connectors"] for e in logs if e["event"] == "setpoints lowered"] == [1]


async def test_an_overloading_reading_drops_the_increases_of_the_step_under_way() -> None:
    rig = make_rig(grid_limit_a=40.0)
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    rig.chargers[1].increases_wait_for = asyncio.Event()  # never set: the bus is slow
    rig.chargers[0].state = CpState.A  # unplugged: c2 may take its 20 A
    rig.clock.now_s += 10
    await rig.poll()
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[1].waiting.wait(), 1.0)  # c2's increase is on its way
    assert rig.log[-1] == ("c1:1", 0.0)
    rig.meter.building_a = 30.0  # 30 A + c2's 20 A on a 40 A connection
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await asyncio.wait_for(step, 1.0)  # the step gives way instead of finishing its increase
    conn = rig.controller._conns["c2:1"]
    assert conn.written_a is None  # the charger may or may not have taken 32 A
    await rig.controller.step()  # the fresh step answers the reading
    assert rig.offered() == [0.0, 10.0]
    assert conn.written_a == 10.0


async def test_the_watchdogs_are_programmed_side_by_side() -> None:
    rig = make_rig()
    slow = rig.chargers[0].failsafe_waits_for = asyncio.Event()  # c1 answers late
    await rig.poll()
    step = asyncio.create_task(rig.controller.step())
    for _ in range(20):  # a few turns of the loop: c2 need not wait for c1
        await asyncio.sleep(0)
    assert rig.chargers[1].failsafe == [(6.0, 15.0)]
    assert rig.chargers[0].failsafe == []
    slow.set()
    await asyncio.wait_for(step, 1.0)
    assert rig.chargers[0].failsafe == [(6.0, 15.0)]


OVER_POWER_LIMIT_W = 60 * 230.0  # 60 A in all on a 40 A connection
CHILD_BUDGET = EffectiveBudget((20.0, 40.0, 40.0), None, "parent budget", ("run", 1))


@pytest.mark.parametrize(
    ("budget", "power_limit_w", "building_a", "overloaded"),
    [
        # Every phase under 40 A, their sum over the power limit: the step gives way as it does
        # for a phase over its limit (it compared the phases with the grid limit only).
        (None, OVER_POWER_LIMIT_W, 5.0, True),
        # L1 over the child's 20 A budget, every phase under the 40 A it compared them with.
        (CHILD_BUDGET, None, 5.0, True),
        # At the power limit as a meter reads it (60.03 A in all, a sum of rounded phases) is
        # the site filled to it, not an overload: the step's increases stand.
        (None, OVER_POWER_LIMIT_W, 0.01, False),
        (CHILD_BUDGET, None, 0.05, False),  # L1 0.05 A over its budget: meter rounding
    ],
)
async def test_a_reading_over_any_limit_by_more_than_an_offer_step_is_an_overload(
    budget: EffectiveBudget | None, power_limit_w: float | None, building_a: float, overloaded: bool
) -> None:
    rig = make_rig(grid_limit_a=40.0)
    rig.controller._site = replace(rig.controller._site, power_limit_w=power_limit_w)
    if budget is not None:
        rig.controller.set_budget(budget)
    await rig.advance(0)  # 10 A each on the power limit, 10 A each on the budget's L1
    assert rig.offered() == [10.0, 10.0]
    rig.controller._overloaded.clear()
    rig.meter.building_a = building_a
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    assert max(rig.controller._grid_history[-1].current_a) < 40.0
    assert rig.controller._overloaded.is_set() is overloaded


# Filled to the limit as a meter reads it is no overload, whatever the chargers' setpoint step;
# more over it than a meter's rounding is one: at a 1 A step a reading 0.5 A over the limit
# was taken for the site filled to it (the step's increases stood, the reads went on).
@pytest.mark.parametrize("resolution_a", [0.1, 1.0])
@pytest.mark.parametrize(("over_a", "overloaded"), [(0.05, False), (0.5, True)])
async def test_a_reading_over_the_limit_by_more_than_a_meters_rounding_is_an_overload(
    resolution_a: float, over_a: float, overloaded: bool
) -> None:
    rig = make_rig(grid_limit_a=40.0, resolution_a=resolution_a)
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    rig.controller._overloaded.clear()
    rig.meter.building_a = over_a
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    assert max(rig.controller._grid_history[-1].current_a) == pytest.approx(40.0 + over_a)
    assert rig.controller._overloaded.is_set() is overloaded


async def test_a_paused_chargers_watchdog_hears_its_0_a_through_a_long_overload() -> None:
    # The building alone over the limit for a minute, and a grid reading over it arriving while
    # each step's writes are on the bus: every step must drop its increases (there are none),
    # never the 0 A written again for the paused chargers' watchdogs, or each would fall back
    # to its failsafe current (6 A, the session is authorised) and charge through the overload.
    rig = make_rig()
    await rig.advance(0)
    rig.meter.building_a = 40.0  # on a 32 A connection
    await rig.advance(0.1)
    assert rig.offered() == [0.0, 0.0]
    timeout_s = rig.controller._conns["c1:1"].setup.failsafe_timeout_s
    assert rig.chargers[0].failsafe[-1] == (6.0, timeout_s)
    for charger in rig.chargers:
        charger.write_hook = rig.controller._grid.poll_once  # type: ignore[union-attr]
    paused_s = rig.clock.now_s
    heard_s: dict[str, list[float]] = {charger.name: [paused_s] for charger in rig.chargers}
    while rig.clock.now_s < paused_s + 4 * timeout_s:
        written = len(rig.log)
        await rig.advance(1.0)
        for name, _ in rig.log[written:]:
            heard_s[name].append(rig.clock.now_s)
        assert rig.offered() == [0.0, 0.0]
    for times_s in heard_s.values():
        gaps_s = [b - a for a, b in zip(times_s, [*times_s[1:], rig.clock.now_s], strict=True)]
        assert max(gaps_s) < timeout_s, f"a watchdog went {max(gaps_s)} s unheard"


async def _step_writing_values_for_the_watchdogs(rig: Rig, unheard_s: float) -> asyncio.Task[Any]:
    """A step under way writing c1's unchanged 16 A again, ``unheard_s`` after c1 last heard
    it, on a bus that does not answer yet; then a grid reading over the limit arrives."""
    await rig.advance(0)
    assert rig.offered() == [16.0, 16.0]
    rig.chargers[0].writes_wait_for = asyncio.Event()
    rig.chargers[1].state = CpState.B  # c2's EV stops drawing: its setpoint is unchanged too
    rig.clock.now_s += unheard_s
    await rig.poll()
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[0].waiting.wait(), 1.0)
    rig.meter.building_a = 40.0  # on a 32 A connection
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    return step


async def test_an_overload_does_not_wait_for_values_the_watchdogs_heard_lately() -> None:
    rig = make_rig()
    timeout_s = rig.controller._conns["c1:1"].setup.failsafe_timeout_s
    step = await _step_writing_values_for_the_watchdogs(rig, timeout_s / 3)
    await asyncio.wait_for(step, 1.0)  # gives way: c1's value may wait for the fresh step
    assert rig.controller._conns["c1:1"].written_a == 16.0  # the charger holds it either way
    assert rig.controller._due(rig.controller._conns["c1:1"], 16.0, rig.clock.now_s)


async def test_a_value_a_watchdog_heard_long_ago_goes_out_whatever_overload_comes() -> None:
    rig = make_rig()
    timeout_s = rig.controller._conns["c1:1"].setup.failsafe_timeout_s
    step = await _step_writing_values_for_the_watchdogs(rig, timeout_s / 2)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not step.done()  # c1's watchdog must hear it before anything else is done
    rig.chargers[0].writes_wait_for.set()  # type: ignore[union-attr]
    await asyncio.wait_for(step, 1.0)
    assert rig.log[-1] == ("c1:1", 16.0)


async def test_a_value_waits_for_no_step_when_a_tick_and_a_write_would_reach_the_watchdog() -> None:
    """Writes that may take 8 s: a value its 15 s watchdog last heard 6.5 s ago, deferred to
    the next step (a tick) and written then, could land after 15.5 s and the charger would fall
    back to its failsafe current; it goes out whatever overload comes."""
    rig = make_rig()
    rig.controller._timing = replace(rig.controller._timing, io_timeout_s=8.0)
    step = await _step_writing_values_for_the_watchdogs(rig, 6.5)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not step.done()  # it did not give way with c1's value unwritten
    rig.chargers[0].writes_wait_for.set()  # type: ignore[union-attr]
    await asyncio.wait_for(step, 1.0)
    assert rig.log[-1] == ("c1:1", 16.0)


async def test_a_step_an_overload_cuts_short_leaves_its_view_to_the_fresh_step() -> None:
    rig = make_rig(grid_limit_a=40.0, increase_interval_s=0.5)
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    before = rig.controller.snapshot()
    rig.chargers[1].increases_wait_for = asyncio.Event()  # never set: the bus is slow
    rig.chargers[0].state = CpState.A  # unplugged: c2 may take its 20 A
    rig.clock.now_s += 0.6  # within a tick of the view published last
    await rig.poll()
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[1].waiting.wait(), 1.0)
    rig.meter.building_a = 30.0
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await asyncio.wait_for(step, 1.0)
    assert rig.controller.snapshot() is before  # no view of a step that gave way
    await rig.controller.step()
    published = rig.controller.snapshot()
    assert published is not before
    assert [c.offered_current_a for c in published.connectors] == [0.0, 10.0]


async def test_a_step_cut_short_a_tick_after_the_last_view_still_publishes() -> None:
    rig = make_rig(grid_limit_a=40.0)
    await rig.advance(0)
    before = rig.controller.snapshot()
    rig.chargers[1].increases_wait_for = asyncio.Event()
    rig.chargers[0].state = CpState.A
    rig.clock.now_s += 10  # an overload lasting many steps must not leave the views behind
    await rig.poll()
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[1].waiting.wait(), 1.0)
    rig.meter.building_a = 30.0
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await asyncio.wait_for(step, 1.0)
    published = rig.controller.snapshot()
    assert published is not before
    assert published.connectors[0].offered_current_a == 0.0


async def test_the_chargers_reads_wait_while_an_overload_s_answer_is_written() -> None:
    rig = make_rig()
    await rig.advance(0)
    assert rig.offered() == [16.0, 16.0]
    slow = rig.chargers[0].writes_wait_for = asyncio.Event()  # c1's bus answers late
    rig.meter.building_a = 10.0  # 42 A on a 32 A connection
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[0].waiting.wait(), 1.0)
    c2 = rig.controller._conns["c2:1"]
    reads = rig.chargers[1].status_reads
    polling = asyncio.create_task(c2.status.run())  # would read at once, and again early
    for _ in range(20):
        await asyncio.sleep(0)
    assert rig.chargers[1].offered_a < 16.0  # c2 lowered, c1 still being written
    assert rig.chargers[1].status_reads == reads  # c2's reads wait for c1's lowered setpoint
    slow.set()
    await asyncio.wait_for(step, 1.0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert rig.chargers[0].offered_a < 16.0
    assert rig.chargers[1].status_reads == reads + 1
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling


def _collections_during(work: Callable[[], None]) -> list[int]:
    """The generations the collector ran on while ``work`` ran."""
    runs: list[int] = []

    def heard(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(heard)
    try:
        work()
    finally:
        gc.callbacks.remove(heard)
    return runs


def _allocate_past_a_young_collection() -> None:
    kept = [[] for _ in range(3 * gc.get_threshold()[0])]  # tracked objects, alive together
    del kept


async def test_no_collection_runs_from_an_overloading_reading_until_its_answer_is_written() -> None:
    rig = make_rig()
    await rig.advance(0)
    assert rig.offered() == [16.0, 16.0]
    slow = rig.chargers[0].writes_wait_for = asyncio.Event()  # c1's bus answers late
    rig.meter.building_a = 10.0  # 42 A on a 32 A connection
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    assert _collections_during(_allocate_past_a_young_collection) == []  # waiting for the step
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[0].waiting.wait(), 1.0)
    assert _collections_during(_allocate_past_a_young_collection) == []  # while it is written
    slow.set()
    await asyncio.wait_for(step, 1.0)
    assert rig.chargers[0].offered_a < 16.0
    assert gc.isenabled()
    assert _collections_during(_allocate_past_a_young_collection) != []  # as usual again


async def test_a_step_under_way_at_an_overloading_reading_leaves_the_collector_held() -> None:
    rig = make_rig(grid_limit_a=40.0, increase_interval_s=0.5)
    await rig.advance(0)
    rig.chargers[1].increases_wait_for = asyncio.Event()  # never set: the bus is slow
    rig.chargers[0].state = CpState.A  # unplugged: c2 may take its 20 A
    rig.clock.now_s += 0.6
    await rig.poll()
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[1].waiting.wait(), 1.0)
    rig.meter.building_a = 30.0
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await asyncio.wait_for(step, 1.0)  # gave way to the reading without answering it
    assert _collections_during(_allocate_past_a_young_collection) == []
    await rig.controller.step()  # the fresh step answers it
    assert rig.chargers[1].offered_a == 10.0
    assert gc.isenabled()


async def test_the_chargers_reads_go_on_while_a_lowering_without_an_overload_is_written() -> None:
    rig = make_rig()
    await rig.advance(0)
    slow = rig.chargers[0].writes_wait_for = asyncio.Event()
    await rig.controller.apply(SetSiteLimit(20.0, Origin.OPERATOR))  # lowers, grid not over
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[0].waiting.wait(), 1.0)
    reads = rig.chargers[1].status_reads
    polling = asyncio.create_task(rig.controller._conns["c2:1"].status.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert rig.chargers[1].status_reads == reads + 1
    slow.set()
    await asyncio.wait_for(step, 1.0)
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling


async def _paused_c1(rig: Rig) -> None:
    """c1 paused by its operator: 0 A written, and then read drawing nothing."""
    await rig.controller.apply(SetConnectorLimit("c1:1", 0.0, Origin.OPERATOR))
    await rig.advance(0)
    assert rig.chargers[0].offered_a == 0.0
    await rig.advance(1)


async def test_a_paused_connector_s_meter_is_read_seldom_its_draw_the_building_s() -> None:
    rig = make_rig(min_pause_s=0.0)
    await _paused_c1(rig)
    conn = rig.controller._conns["c1:1"]
    assert conn.meter is not None
    assert conn.meter.interval_s == conn.setup.poll_interval_s * 5
    assert [d.measured_current_a for d in rig.controller.demands] == [None, (32.0,) * 3]
    conn.meter._refresh_asked = False
    await rig.controller.apply(SetConnectorLimit("c1:1", None, Origin.OPERATOR))
    await rig.advance(10)  # c2 lowered to make room
    assert rig.offered() == [0.0, 16.0]
    assert not conn.meter._refresh_asked
    await rig.advance(10)  # c2 has settled: c1 resumes
    assert rig.offered() == [16.0, 16.0]
    assert conn.meter.interval_s == conn.setup.poll_interval_s  # it may draw: read as usual
    assert conn.meter._refresh_asked  # and at once, not when the idle interval ends


async def test_a_paused_connector_still_drawing_is_read_as_usual() -> None:
    rig = make_rig()
    await rig.advance(0)
    await rig.controller.apply(SetConnectorLimit("c1:1", 0.0, Origin.OPERATOR))
    await rig.advance(1)
    assert rig.chargers[0].offered_a == 0.0
    rig.chargers[0].offered_a = 16.0  # its EV has not followed yet (the meter shows its draw)
    await rig.advance(1)
    conn = rig.controller._conns["c1:1"]
    assert conn.meter is not None and conn.meter.interval_s == conn.setup.poll_interval_s
    assert rig.controller.demands[0].measured_current_a == (16.0,) * 3


async def test_an_increase_does_not_wait_for_a_paused_connector_s_meter() -> None:
    rig = make_rig(grid_limit_a=40.0, increase_interval_s=0.0)
    await rig.controller.apply(SetConnectorLimit("c2:1", 10.0, Origin.OPERATOR))
    await _paused_c1(rig)
    assert rig.offered() == [0.0, 10.0]
    await rig.controller.apply(SetConnectorLimit("c2:1", None, Origin.OPERATOR))
    rig.clock.now_s += 4  # c1's reading is older than the pairing window: none brackets
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    for conn in rig.controller._conns.values():
        await conn.status.poll_once()
    c2_meter = rig.controller._conns["c2:1"].meter
    assert c2_meter is not None
    await c2_meter.poll_once()  # c1's meter is not due: no reading of it after the grid's
    await rig.controller.step()
    assert rig.offered() == [0.0, 32.0]  # the grid reading pairs with c2's readings alone


async def test_the_chargers_reads_do_not_wait_for_an_unknown_setpoint_written_again() -> None:
    """A charger whose setpoint is unknown (an unreachable one: written again at every step)
    is not an overload's answer the reads must wait for: they go on once the lowered known
    ones are written, not up to the write timeout at every step."""
    rig = make_rig()
    await rig.advance(0)
    assert rig.offered() == [16.0, 16.0]
    rig.controller._conns["c1:1"].written_a = None  # its last write failed
    slow = rig.chargers[0].writes_wait_for = asyncio.Event()  # and its bus still hangs
    rig.meter.building_a = 10.0  # 42 A on a 32 A connection
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[0].waiting.wait(), 1.0)
    reads = rig.chargers[1].status_reads
    polling = asyncio.create_task(rig.controller._conns["c2:1"].status.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert rig.chargers[1].offered_a < 16.0  # c2 lowered; c1 still being written
    assert rig.chargers[1].status_reads > reads  # c2's reads did not wait for c1
    slow.set()
    await asyncio.wait_for(step, 1.0)
    assert rig.chargers[0].offered_a < 16.0
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling


async def test_a_held_decrease_reads_the_ramped_charger_at_once() -> None:
    # As above, the EV followed its raise to 24 A between its charger's reading (12 A) and the
    # grid's (24 A). Its meter is read every 60 s here: without a read at once the next grid
    # reading, again 24 - 12, would let the decrease out and cut the EV to 12 A for nothing.
    rig = await _at_24_a_after_a_raise()
    charger = rig.chargers[0]
    meter = rig.controller._conns["c1:1"].meter
    assert meter is not None
    meter.interval_s = 60.0
    charger.offered_a = 12.0
    rig.clock.now_s += 0.1
    reading = asyncio.create_task(meter.run())
    try:
        for _ in range(5):
            await asyncio.sleep(0)  # its first read: 12 A
        charger.offered_a = 24.0
        rig.clock.now_s += 0.5
        await rig.controller._grid.poll_once()  # type: ignore[union-attr]
        rig.clock.now_s += 0.05
        await rig.controller.step()
        assert rig.offered() == [24.0]  # held on this grid reading
        for _ in range(5):
            await asyncio.sleep(0)  # a read asked for now would be done
        rig.clock.now_s += 0.95
        await rig.controller._grid.poll_once()  # type: ignore[union-attr]
        await rig.controller.step()
        assert rig.offered() == [24.0]
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


async def test_no_read_begins_between_an_overloading_reading_and_its_lowered_setpoints() -> None:
    """A read begun while the step decides holds its link: the lowered setpoint written to
    that charger waits behind it. From the reading on, reads wait until the answer is out."""
    rig = make_rig()
    await rig.advance(0)
    assert rig.offered() == [16.0, 16.0]
    rig.meter.building_a = 10.0  # 42 A on a 32 A connection
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    reads = [c.status_reads for c in rig.chargers]
    polling = [asyncio.create_task(c.status.run()) for c in rig.controller._conns.values()]
    for _ in range(20):
        await asyncio.sleep(0)
    assert [c.status_reads for c in rig.chargers] == reads  # the step has not begun yet
    await rig.controller.step()
    assert max(rig.offered()) < 16.0
    for _ in range(20):
        await asyncio.sleep(0)
    assert [c.status_reads for c in rig.chargers] == [n + 1 for n in reads]  # then they go on
    for task in polling:
        task.cancel()
    for task in polling:
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_step_under_way_when_an_overload_comes_leaves_the_reads_held() -> None:
    """The step under way did not decide on the overloading reading: its writes ending do not
    let the reads begin; those of the fresh step that answers it do."""
    rig = make_rig(grid_limit_a=40.0)
    await rig.advance(0)
    assert rig.offered() == [20.0, 20.0]
    rig.chargers[1].increases_wait_for = asyncio.Event()  # never set: the bus is slow
    rig.chargers[0].state = CpState.A  # unplugged: c2 may take its 20 A
    rig.clock.now_s += 10
    await rig.poll()
    step = asyncio.create_task(rig.controller.step())
    await asyncio.wait_for(rig.chargers[1].waiting.wait(), 1.0)
    rig.meter.building_a = 30.0
    await rig.controller._grid.poll_once()  # type: ignore[union-attr]
    await asyncio.wait_for(step, 1.0)  # its increase dropped for the fresh step
    reads = rig.chargers[1].status_reads
    polling = asyncio.create_task(rig.controller._conns["c2:1"].status.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert rig.chargers[1].status_reads == reads
    await rig.controller.step()
    assert rig.offered() == [0.0, 10.0]
    for _ in range(20):
        await asyncio.sleep(0)
    assert rig.chargers[1].status_reads == reads + 1
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling
