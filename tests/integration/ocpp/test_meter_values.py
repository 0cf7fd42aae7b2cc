"""Sampled and clock-aligned MeterValues, checked by the schema-strict peer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge_controller.domain.sessions.events import ReadingContext
from edge_controller.domain.snapshot import Availability
from edge_controller.storage.sessions_store import SessionStart
from edge_controller.uplink.clock import from_iso, to_iso
from edge_controller.uplink.ports import MeterSample
from tests.integration.ocpp.harness import (
    FakeMeters,
    FakeSite,
    open_outbox,
    running_uplink,
    session_store,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer
from tests.outbox_events import announcing

pytestmark = pytest.mark.integration
ALL = [
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "SoC",
]


async def test_sampled_and_aligned_values_with_every_measurand(tmp_path: Path) -> None:
    site = FakeSite()
    site.set("c1:2", Availability.AVAILABLE)
    sample = MeterSample(
        at_s=0.0,
        energy_register_wh=12345.4,
        power_w=7360.0,
        current_a=(10.0, 10.5, 11.0),
        voltage_v=(230.0, 231.0, 229.5),
        offered_current_a=16.0,
        soc_pct=42.0,
    )
    idle = MeterSample(at_s=0.0, energy_register_wh=500.0)
    meters = FakeMeters({"c1:1": sample, "c1:2": idle})
    async with strict_peer() as peer, open_outbox(tmp_path / "db.sqlite") as outbox:
        start = announcing("site1", "c1:1", 1000)
        record = await session_store(outbox).start(
            SessionStart("c1:1", "AABBCCDD", time.time() - 60, 1000, announce=start)
        )
        site.set("c1:1", Availability.CHARGING, session_id=str(record.local_id))
        settings = settings_for(
            f"ws://127.0.0.1:{peer.port}",
            meter_value_sample_interval_s=1,
            clock_aligned_data_interval_s=2,
            meter_values_sampled_data=ALL,
            meter_values_aligned_data=["Energy.Active.Import.Register"],
        )
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}, meters=meters):
            await wait_for(lambda: _count(peer, "Sample.Periodic") >= 2)
            await wait_for(lambda: _count(peer, "Sample.Clock") >= 2)
        kept = await session_store(outbox).get(record.local_id)
        rows = await session_store(outbox).meter_values(record.local_id)
    assert peer.invalid() == []
    values = peer.calls("MeterValues")
    periodic = [v["params"] for v in values if _context(v) == "Sample.Periodic"]
    assert all(p["transactionId"] == 1 and p["connectorId"] == 1 for p in periodic)
    measurands = [s["measurand"] for s in periodic[0]["meterValue"][0]["sampledValue"]]
    assert measurands.count("Current.Import") == 3 and measurands.count("Voltage") == 3
    assert set(measurands) == set(ALL)
    aligned = [v["params"] for v in values if _context(v) == "Sample.Clock"]
    idle_aligned = [a for a in aligned if a["connectorId"] == 2]
    assert idle_aligned and all("transactionId" not in a for a in idle_aligned)
    for item in aligned:
        at_s = from_iso(item["meterValue"][0]["timestamp"])
        assert at_s % 2 == 0  # exactly on the boundary
    # Per connector, in the order sent, timestamps never go backwards (an aligned sample is
    # taken at its boundary, not after a later periodic one).
    for connector in (1, 2):
        sent = [v["params"] for v in values if v["params"]["connectorId"] == connector]
        stamps = [from_iso(p["meterValue"][0]["timestamp"]) for p in sent]
        assert stamps == sorted(stamps), (connector, stamps)
    # Every sample of the running session is kept as its last known register, with its time.
    assert kept is not None and kept.last_meter_wh == 12345
    samples = [
        r for r in rows if r.context in (ReadingContext.PERIODIC, ReadingContext.CLOCK_ALIGNED)
    ]
    assert kept.last_meter_at_s == max(r.at_s for r in samples)
    recorded = {to_iso(r.at_s) for r in samples}
    assert {p["meterValue"][0]["timestamp"] for p in periodic + aligned
            if p["connectorId"] == 1} <= recorded  # fmt: skip


def _context(call: dict[str, object]) -> str:
    params = call["params"]
    assert isinstance(params, dict)
    return str(params["meterValue"][0]["sampledValue"][0].get("context"))


def _count(peer: object, context: str) -> int:
    calls = peer.calls("MeterValues")  # type: ignore[attr-defined]
    return sum(1 for c in calls if _context(c) == context)
