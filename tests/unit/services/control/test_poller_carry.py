"""A poller carrying another: when the carried one is read, and what wakes it."""

from __future__ import annotations

import asyncio
import time

from edge_controller.domain.model import ChargerStatus, CpState, MeterReading
from edge_controller.ports import DeviceFault, DeviceUnavailable
from edge_controller.services.control.connector import ConnectorRuntime, ConnectorSetup, LoopTiming
from edge_controller.services.control.poller import Poller


class Device:
    """Counts the reads of a status alone and of status and meter together."""

    def __init__(self) -> None:
        self.alone = 0
        self.together = 0
        self.read = asyncio.Event()

    async def status(self) -> str:
        self.alone += 1
        self.read.set()
        return "status"

    async def meter(self) -> float:
        raise AssertionError("a carried meter is never read on its own")

    async def both(self) -> tuple[str, float]:
        self.together += 1
        self.read.set()
        return "status", float(self.together)


def wired(
    device: Device, now: list[float], meter_interval_s: float
) -> tuple[Poller[str], Poller[float]]:
    status: Poller[str] = Poller(
        "c:1", device.status, interval_s=1, timeout_s=1, max_age_s=5, clock=lambda: now[0]
    )
    meter: Poller[float] = Poller(
        "c:1/meter", device.meter, interval_s=meter_interval_s, timeout_s=1, max_age_s=10,
        clock=lambda: now[0],
    )  # fmt: skip
    status.carry(meter, device.both)
    return status, meter


async def test_a_meter_read_seldom_rides_along_the_status_poll_nearest_its_due_time() -> None:
    device, now = Device(), [0.0]
    status, meter = wired(device, now, meter_interval_s=5)
    for second in range(11):
        now[0] = second + 0.01  # a poll starts a little after each second
        assert await status.poll_once()
    # Together at 0, 5 and 10 s; the status alone in between.
    assert (device.together, device.alone) == (3, 8)
    assert meter.latest == 3.0 and meter.latest_at_s == 10.01
    assert status.stats().requests == 11 and meter.stats().requests == 3


async def test_a_meter_at_the_status_interval_comes_with_every_poll() -> None:
    device, now = Device(), [0.0]
    status, _ = wired(device, now, meter_interval_s=1)
    for second in range(5):
        now[0] = second * 1.002  # each poll starts its interval after the last one ended
        assert await status.poll_once()
    assert (device.together, device.alone) == (5, 0)


async def test_a_refresh_of_the_meter_wakes_the_status_poller_and_rides_along() -> None:
    device, now = Device(), [0.0]
    status, meter = wired(device, now, meter_interval_s=3600)
    status.interval_s = 3600
    task = asyncio.create_task(status.run())
    try:
        async with asyncio.timeout(5):
            await device.read.wait()  # the first poll: both (nothing read yet)
            device.read.clear()
            meter.refresh()
            await device.read.wait()
        assert (device.together, device.alone) == (2, 0)
    finally:
        task.cancel()


async def test_a_carried_poller_has_no_loop_of_its_own() -> None:
    device, now = Device(), [0.0]
    _, meter = wired(device, now, meter_interval_s=1)
    assert meter.carried
    async with asyncio.timeout(1):
        await meter.run()  # returns at once: its reads come with the status poller's
    assert device.together == device.alone == 0


class RefusingDevice(Device):
    """Refuses the read of both (exception 02 on a register in the hole); answers each alone."""

    def __init__(self) -> None:
        super().__init__()
        self.meter_alone = 0

    async def meter(self) -> float:
        self.meter_alone += 1
        return 230.0 + self.meter_alone

    async def both(self) -> tuple[str, float]:
        self.together += 1
        raise DeviceFault("hd1: Modbus exception 02 (illegal data address) to read input 5-18")


async def test_a_refused_read_of_both_reads_them_apart_from_then_on() -> None:
    device, now = RefusingDevice(), [0.0]
    status, meter = wired(device, now, meter_interval_s=1)
    for second in range(60):
        now[0] = second * 1.002
        assert await status.poll_once()
    assert device.together == 1  # refused once, never asked again
    assert device.alone == device.meter_alone == 60
    assert status.reads_apart
    assert meter.fresh() == 290.0 and meter.available
    # The refusal is neither's error: each value was read alone in the same poll.
    assert status.stats().errors == meter.stats().errors == {}
    assert status.stats().requests == meter.stats().requests == 60


async def test_a_read_of_both_that_is_not_answered_fails_both_and_is_tried_again() -> None:
    class Silent(Device):
        async def both(self) -> tuple[str, float]:
            self.together += 1
            raise DeviceUnavailable("c: no answer")

    device, now = Silent(), [0.0]
    status, meter = wired(device, now, meter_interval_s=1)
    for second in range(3):
        now[0] = second * 1.002
        assert not await status.poll_once()
    assert device.together == 3 and device.alone == 0 and not status.reads_apart
    assert status.stats().errors == meter.stats().errors == {"DeviceUnavailable": 3}


class SilentMeter(Device):
    """Reads apart: its status answers, its meter does not (until ``answers``); ``calls`` is the
    order of the reads."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.answers = False
        self.fault: str | None = None

    async def status(self) -> str:
        self.calls.append("status")
        return await super().status()

    async def meter(self) -> float:
        self.calls.append("meter")
        if self.fault is not None:
            raise DeviceFault(self.fault)  # answered, with a value it cannot be
        if not self.answers:
            await asyncio.Event().wait()  # no answer: the meter read's own timeout ends it
        return 7.0


def silent_pair(device: SilentMeter, now: list[float]) -> tuple[Poller[str], Poller[float]]:
    status: Poller[str] = Poller(
        "c:1", device.status, interval_s=1, timeout_s=5, max_age_s=5, clock=lambda: now[0]
    )
    meter: Poller[float] = Poller(
        "c:1/meter", device.meter, interval_s=1, timeout_s=0.01, max_age_s=5,
        clock=lambda: now[0],
    )  # fmt: skip
    status.carry(meter)
    assert status.reads_apart
    return status, meter


async def polls_reading_the_meter(
    status: Poller[str], device: SilentMeter, now: list[float], seconds: range
) -> list[int]:
    """The seconds (a poll a little over each) whose poll asked for the meter."""
    asked = []
    for second in seconds:
        now[0] = second * 1.002
        before = device.calls.count("meter")
        assert await status.poll_once()  # the status read's outcome, not the meter's
        if device.calls.count("meter") > before:
            asked.append(second)
    return asked


async def test_read_apart_a_meter_that_does_not_answer_leaves_the_status_standing() -> None:
    device, now = SilentMeter(), [0.0]
    status, meter = silent_pair(device, now)
    asked = await polls_reading_the_meter(status, device, now, range(8))
    assert status.fresh() == "status" and status.available
    assert meter.fresh() is None and not meter.available
    assert status.stats().errors == {}
    assert meter.stats().errors == {"TimeoutError": len(asked)}
    # Each unanswered meter read is followed by the status again: it held the link.
    assert status.stats().requests == 8 + len(asked)
    assert device.calls[:6] == ["status", "meter", "status"] * 2


async def test_a_meter_that_keeps_not_answering_is_asked_ever_more_seldom() -> None:
    device, now = SilentMeter(), [0.0]
    status, meter = silent_pair(device, now)
    asked = await polls_reading_the_meter(status, device, now, range(200))
    # Twice in a row at its interval, then after 2, 4, 8, 16, 32 s and every 60 s.
    assert asked == [0, 1, 3, 7, 15, 31, 63, 123, 183]
    assert meter.silent_wait_s() == 60.0
    assert status.stats().requests == 200 + len(asked)
    assert status.stats().errors == {} and status.fresh() == "status"


async def test_a_refresh_does_not_ask_a_silent_meter_before_its_wait_is_over() -> None:
    device, now = SilentMeter(), [0.0]
    status, meter = silent_pair(device, now)
    assert await polls_reading_the_meter(status, device, now, range(2)) == [0, 1]
    meter.refresh()  # a setpoint written: its answer read early
    assert await polls_reading_the_meter(status, device, now, range(2, 3)) == []
    assert await polls_reading_the_meter(status, device, now, range(3, 4)) == [3]


async def test_a_silent_meter_that_answers_again_is_read_at_its_interval() -> None:
    device, now = SilentMeter(), [0.0]
    status, meter = silent_pair(device, now)
    assert await polls_reading_the_meter(status, device, now, range(8)) == [0, 1, 3, 7]
    device.answers = True
    assert await polls_reading_the_meter(status, device, now, range(8, 20)) == [15, *range(16, 20)]
    assert meter.fresh() == 7.0 and meter.silent_wait_s() is None
    assert device.calls[-2:] == ["status", "meter"]  # answered: the status is not read again


async def test_a_meter_that_answers_with_a_fault_is_not_asked_more_seldom() -> None:
    device, now = SilentMeter(), [0.0]
    device.fault = "c:1: current_l1 = 95 A is implausible"
    status, meter = silent_pair(device, now)
    assert await polls_reading_the_meter(status, device, now, range(6)) == list(range(6))
    assert meter.stats().errors == {"DeviceFault": 6} and meter.silent_wait_s() is None
    assert status.stats().requests == 6  # an answer does not hold the link: read once


class Wallbox:
    async def read_status(self) -> ChargerStatus:
        return ChargerStatus(CpState.A, True, 0.0, None, 0.0)

    async def set_current(self, current_a: float) -> None: ...

    async def set_enabled(self, enabled: bool) -> None: ...

    async def read_meter(self) -> MeterReading:
        raise AssertionError("not read in this test")


class TogetherWallbox(Wallbox):
    share = True

    @property
    def status_and_meter_share_a_request(self) -> bool:
        return self.share

    async def read_status_and_meter(self) -> tuple[ChargerStatus, MeterReading]:
        raise AssertionError("not read in this test")


class ApartWallbox(TogetherWallbox):
    share = False


def test_a_connector_whose_charger_reads_both_together_carries_its_meter() -> None:
    together = ConnectorRuntime(
        ConnectorSetup("t:1", TogetherWallbox()), LoopTiming(), time.monotonic
    )
    apart = ConnectorRuntime(ConnectorSetup("a:1", Wallbox()), LoopTiming(), time.monotonic)
    split = ConnectorRuntime(ConnectorSetup("s:1", ApartWallbox()), LoopTiming(), time.monotonic)
    assert together.meter is not None and together.meter.carried
    assert not together.status.reads_apart
    assert split.meter is not None and split.meter.carried and split.status.reads_apart
    assert apart.meter is not None and not apart.meter.carried
