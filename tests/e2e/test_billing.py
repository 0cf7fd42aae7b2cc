"""Billing on the real daemon, simulator and bench CSMS: a power loss while the EV leaves, a CSMS
whose clock differs from the site's, and orderly stops while charging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.clock import to_iso as iso_utc
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.site import profile_for
from tests.e2e.test_ocpp import Csms, connected, with_uplink
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

EV = "keba:1"
REGISTER = "Energy.Active.Import.Register"


async def _csms(offset_s: float = 0.0) -> Csms:
    peer = Csms(BenchCsms(now_s=lambda: time.time() + offset_s), free_port())
    await peer.start()
    return peer


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    peer = await _csms()
    try:
        yield peer
    finally:
        await peer.stop()


def _registers(csms: Csms) -> list[tuple[str, int]]:
    """(timestamp, register) of every MeterValues energy register the CSMS received."""
    found = []
    for payload in csms.calls("MeterValues"):
        for value in payload["meterValue"]:
            for sampled in value["sampledValue"]:
                if sampled.get("measurand") == REGISTER:
                    found.append((value["timestamp"], int(sampled["value"])))
    return found


def _session(site: E2ESite) -> tuple[Any, ...]:
    (row,) = site.query(
        "SELECT local_id, start_at_s, meter_start_wh, stop_at_s, meter_stop_wh, stop_reason"
        " FROM sessions WHERE connector_id = ?",
        (EV,),
    )
    return row


async def test_power_loss_while_the_ev_leaves_bills_up_to_the_last_sampled_register(
    launch: Launch, config: dict[str, Any], csms: Csms
) -> None:
    site = await launch(with_uplink(config, csms.port))
    await connected(site, csms)
    await site.control.plug(EV, profile=profile_for(EV))
    start_wh = None

    async def charged() -> bool:
        registers = _registers(csms)
        starts = csms.calls("StartTransaction")
        return len(starts) == 1 and len(registers) >= 3 and registers[-1][1] > registers[0][1]

    await eventually(charged, "three MeterValues with a rising register", 60)
    site.kill_daemon()  # SIGKILL: nothing is closed, nothing more is sent
    await site.control.unplug(EV, immediate=True)  # the EV leaves while the daemon is dead
    (last_s, last_wh), *_ = site.query(
        "SELECT at_s, energy_wh FROM meter_values WHERE context IN ('periodic', 'clock_aligned')"
        " ORDER BY id DESC LIMIT 1"
    )
    await asyncio.sleep(2.0)  # the restart comes noticeably later than the last sample
    await site.start_daemon()

    async def stopped() -> bool:
        return len(csms.calls("StopTransaction")) == 1

    await eventually(stopped, "StopTransaction after the restart", 60)
    (start,) = csms.calls("StartTransaction")
    (stop,) = csms.calls("StopTransaction")
    start_wh = start["meterStart"]
    assert stop["reason"] == "PowerLoss"
    # Billed up to the last sampled register, at its time; never below what was delivered.
    assert stop["meterStop"] == last_wh, (stop, last_wh)
    assert stop["timestamp"] == iso_utc(last_s), (stop, last_s)
    assert stop["meterStop"] >= max(wh for _, wh in _registers(csms))
    assert stop["meterStop"] - start_wh > 0, "a power loss must not bill 0 Wh"
    row = _session(site)
    assert (row[3], row[4], row[5]) == (last_s, last_wh, "PowerLoss")
    print(f"power loss billed {stop['meterStop'] - start_wh} Wh up to {stop['timestamp']}")


@pytest.mark.parametrize("offset_s", [600.0, -600.0], ids=["csms-ahead", "csms-behind"])
async def test_every_timestamp_of_a_transaction_is_on_one_clock(
    launch: Launch, config: dict[str, Any], offset_s: float
) -> None:
    csms = await _csms(offset_s)
    try:
        with_uplink(config, csms.port)
        config["ocpp"]["clock_aligned_data_interval_s"] = 2
        config["ocpp"]["meter_values_aligned_data"] = [REGISTER]
        site = await launch(config)
        await connected(site, csms)
        await site.control.plug(EV, profile=profile_for(EV))

        async def sampled() -> bool:
            contexts = {
                s.get("context")
                for p in csms.calls("MeterValues")
                for v in p["meterValue"]
                for s in v["sampledValue"]
            }
            return {"Sample.Periodic", "Sample.Clock"} <= contexts and len(_registers(csms)) >= 6

        await eventually(sampled, "periodic and clock-aligned MeterValues", 60)
        await site.control.unplug(EV, immediate=True)
        await eventually(
            lambda: _true(len(csms.calls("StopTransaction")) == 1), "StopTransaction", 60
        )
    finally:
        await csms.stop()
    (start,) = csms.calls("StartTransaction")
    (stop,) = csms.calls("StopTransaction")
    begin_s, end_s = from_iso(start["timestamp"]), from_iso(stop["timestamp"])
    in_transaction = [p for p in csms.calls("MeterValues") if "transactionId" in p]
    assert in_transaction
    stamps = [from_iso(v["timestamp"]) for p in in_transaction for v in p["meterValue"]]
    assert all(begin_s <= at_s <= end_s for at_s in stamps), (begin_s, stamps, end_s)
    assert stamps == sorted(stamps), "timestamps of one connector never go backwards"
    connector = start["connectorId"]
    statuses = [from_iso(p["timestamp"]) for p in csms.calls("StatusNotification")
                if p["connectorId"] == connector]  # fmt: skip
    assert statuses and all(abs(at_s - begin_s) < 120 for at_s in statuses), statuses


async def _true(value: bool) -> bool:
    return value


async def test_orderly_stops_while_charging_deliver_every_stop_once(
    launch: Launch, config: dict[str, Any], csms: Csms
) -> None:
    cycles = 3
    site = await launch(with_uplink(config, csms.port), plugged=(EV,))
    for n in range(cycles):
        if n:
            await site.start_daemon()
        await connected(site, csms)

        async def charging(n: int = n) -> bool:
            return len(csms.calls("StartTransaction")) == n + 1 and bool(_registers(csms))

        await eventually(charging, f"session {n + 1} charging", 60)
        assert await site.stop_daemon() == 0  # an orderly stop while charging
    stops = csms.calls("StopTransaction")
    rows = site.query(
        "SELECT s.meter_start_wh, s.meter_stop_wh, s.stop_reason, t.remote_transaction_id"
        " FROM sessions s JOIN transaction_ids t ON t.session_local_id = s.local_id"
        " ORDER BY s.local_id"
    )
    assert len(rows) == cycles and all(r[2] == "Reboot" for r in rows), rows
    assert len(stops) == cycles, stops  # each delivered before the exit, none twice
    assert sorted(s["transactionId"] for s in stops) == sorted(r[3] for r in rows)
    billed = {s["transactionId"]: s["meterStop"] for s in stops}
    assert all(billed[r[3]] == r[1] for r in rows)
    assert site.query("SELECT count(*) FROM outbox WHERE state != 'acked'") == [(0,)]
    print(f"{cycles} orderly stops, {sum(r[1] - r[0] for r in rows)} Wh billed, 0 repeated")
