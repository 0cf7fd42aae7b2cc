"""Samples the uplink takes of running sessions (OCPP on): the session keeps the register."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_controller.domain.model import CpState, MeterReading
from edge_controller.domain.sessions.authorization import AuthPolicy
from edge_controller.domain.sessions.events import (
    MeterSampled,
    ReadingContext,
    SessionEnded,
    SessionStarted,
)
from edge_controller.domain.sessions.state import Phase
from edge_controller.storage.sessions_store import EventToQueue
from tests.outbox_events import sampled
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, Rig, make_rig, status

FREE = AuthPolicy(free_vend_id_tag="FREE")
PERIODIC = ReadingContext.PERIODIC


def values(local_id: int) -> tuple[EventToQueue]:
    """The sample the uplink queues with the register (its readings do not matter here)."""
    return (EventToQueue("site", sampled(local_id, 1, "cp1:1")),)


@dataclass
class ChargerMeter:
    """A charger's built-in meter (the uplink samples the same register)."""

    energy_wh: float = 1000.0

    async def read_meter(self) -> MeterReading:
        return MeterReading(
            (230.0,) * 3, (10.0,) * 3, (2300.0,) * 3, 6900.0, self.energy_wh, 0.0, 0.0
        )


async def _charging(rig: Rig) -> int:
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    record = rig.manager.open_session("cp1:1")
    assert record is not None
    return record.local_id


async def test_a_power_loss_after_uplink_samples_stops_at_the_last_one(tmp_path: Path) -> None:
    clock, meter = Clock(), ChargerMeter()
    rig = await make_rig(tmp_path / "edge.db", policy=FREE, clock=clock,
                         meters={"cp1:1": meter})  # type: ignore[dict-item]  # fmt: skip
    local_id = await _charging(rig)
    recorder = rig.manager.recorder
    for n in range(1, 4):
        at_s = clock.now_s + 60 * n
        energy = (1000.0 + 37 * n, PERIODIC)
        assert await recorder.record_sample(local_id, "cp1:1", at_s, energy, values(local_id))
    last_s = clock.now_s + 180
    await rig.db.close()  # the power goes; the EV leaves meanwhile

    clock.now_s += 3600
    again = await make_rig(tmp_path / "edge.db", policy=FREE, clock=clock,
                           meters={"cp1:1": meter})  # type: ignore[dict-item]  # fmt: skip
    await again.manager.recover()
    await again.manager.on_charger_status("cp1:1", status(CpState.A))
    (record,) = await again.store.recent()
    assert record.stop_reason == "PowerLoss"
    assert (record.meter_stop_wh, record.stop_at_s) == (1111, last_s)
    assert record.energy_wh == 111
    queued = [type(m.event) for m in await again.outbox.peek_many("site", limit=20)]
    assert queued == [SessionStarted, *[MeterSampled] * 3, SessionEnded]
    await again.db.close()


async def test_a_connector_with_its_own_meter_keeps_that_meters_register(rig: Rig) -> None:
    await rig.db.close()
    rig = await make_rig(rig.db.path, policy=FREE)
    local_id = await _charging(rig)
    rig.meters["cp1:1"].energy_wh = 1500.0
    assert await rig.manager.recorder.record_sample(
        local_id, "cp1:1", rig.clock.now_s + 60, (99_999.0, PERIODIC), values(local_id)
    )  # the uplink read the charger's register; billing counts the connector's own meter
    kept = await rig.store.get(local_id)
    assert kept is not None and kept.last_meter_wh == 1500
    await rig.db.close()


async def test_an_uplink_sample_after_the_stop_records_nothing(rig: Rig) -> None:
    await rig.db.close()
    rig = await make_rig(rig.db.path, policy=FREE)
    local_id = await _charging(rig)
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    assert rig.manager.phase("cp1:1") is Phase.IDLE
    assert not await rig.manager.recorder.record_sample(
        local_id, "cp1:1", rig.clock.now_s + 1, (2000.0, PERIODIC), values(local_id)
    )
    queued = await rig.outbox.peek_many("site", limit=9)
    assert not [m for m in queued if isinstance(m.event, MeterSampled)]
    await rig.db.close()


async def test_no_session_opens_after_the_orderly_stop_closed_them(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path / "edge.db", policy=FREE, meters={
        "cp1:1": CounterMeter(), "cp1:2": CounterMeter()})  # fmt: skip
    await _charging(rig)
    await rig.manager.shutdown()
    await rig.manager.on_charger_status("cp1:2", status(CpState.C))  # while the uplink drains
    assert rig.manager.open_session("cp1:2") is None
    (record,) = await rig.store.recent()
    assert record.stop_reason == "Reboot"
    await rig.db.close()
