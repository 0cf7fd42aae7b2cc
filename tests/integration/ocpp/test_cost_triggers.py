"""A 1.6 CSMS that prices sessions centrally (the Open Charge Alliance's costmsg extension)
asks, in its RunningCost, for the next MeterValues at the moments its prices change
(``triggerMeterValue``) and names the next period's prices (``nextPeriod``). Against the
schema-strict CSMS (ocpp-rpc strictMode): each trigger sends one MeterValues (context Trigger)
with the energy register of that moment, and the next period's prices are shown from its start."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge_controller.app.uplink import CentralPriceSink
from edge_controller.domain.model import Token
from edge_controller.domain.snapshot import Availability
from edge_controller.storage.tariff_store import SITE
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.ports import MeterSample
from edge_controller.uplink.v16.costmsg import VENDOR_ID
from tests.integration.ocpp.harness import FakeMeters, settings_for, wait_for
from tests.integration.ocpp.sessions_site import CARD, LiveSite, live_site, uplink_to
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
REGISTER = "Energy.Active.Import.Register"
TARIFF = {"id": "site", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.40"}]}}


def triggered(peer: StrictPeer) -> list[Decimal]:
    """The energy registers (Wh) of the MeterValues sent with context Trigger, in order."""
    found = []
    for call in peer.calls("MeterValues"):
        for value in call["params"]["meterValue"]:
            for sampled in value["sampledValue"]:
                measurand = sampled.get("measurand", REGISTER)
                if sampled.get("context") == "Trigger" and measurand == REGISTER:
                    found.append(Decimal(sampled["value"]))
    return found


async def session_started(site: LiveSite) -> int:
    await site.plug("c1:1")
    assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
    for _ in range(200):  # until StartTransaction.conf gave the CSMS's transaction id
        (record,) = await site.manager.recorder.store.open_sessions()
        if record.remote_transaction_id is not None:
            return record.remote_transaction_id
        await asyncio.sleep(0.05)
    raise AssertionError("no transaction id from the CSMS")


def running_cost(tid: int, **extra: Any) -> dict[str, Any]:
    data = {
        "transactionId": tid, "timestamp": to_iso(time.time()), "meterValue": 1000,
        "cost": 0.5, "state": "Charging", "chargingPrice": {"kWhPrice": 0.4},
    } | extra  # fmt: skip
    return {"vendorId": VENDOR_ID, "messageId": "RunningCost", "data": json.dumps(data)}


async def test_running_cost_triggers_send_meter_values_and_the_next_period_is_shown(
    tmp_path: Path,
) -> None:
    meters = FakeMeters({"c1:1": MeterSample(time.time(), 1000.0, 6900.0)})
    async with (
        strict_peer(protocols="ocpp1.6") as peer,
        live_site(tmp_path, {SITE: TARIFF}) as (site, outbox),
    ):
        assert site.pricing is not None
        sink = CentralPriceSink(site.manager.recorder.store, site.pricing)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}")
        async with uplink_to(settings, site, outbox, tmp_path, prices=sink, meters=meters) as up:
            await wait_for(lambda: up.online)
            tid = await session_started(site)
            at_s = time.time() + 3.5  # well after the answer, on a loaded machine too
            data = running_cost(
                tid,
                triggerMeterValue={"atEnergykWh": 2.5, "atPowerkW": 3.0,
                                   "atCPStatus": ["SuspendedEV"], "atTime": to_iso(at_s)},
                nextPeriod={"atTime": to_iso(at_s), "chargingPrice": {"kWhPrice": 0.55},
                            "idlePrice": {"graceMinutes": 10, "hourPrice": 6}},
            )  # fmt: skip
            answer = await peer.ask("site1", "DataTransfer", data)
            assert answer["status"] == "Accepted"
            if time.time() < at_s - 1.0:  # the loop checks each second
                assert triggered(peer) == []
                shown = site.shown("c1:1").csms_cost
                assert shown is not None and shown["price_text"] is None  # not yet its period

            await wait_for(lambda: len(triggered(peer)) == 1)  # atTime passed
            assert time.time() >= at_s and triggered(peer) == [Decimal(1000)]
            shown = site.shown("c1:1").csms_cost
            assert shown is not None and shown["cost"] == "0.5"
            assert shown["price_text"] == "0.55/kWh; idle 6/h after 10 min"

            meters.samples["c1:1"] = MeterSample(time.time(), 2499.0, 6900.0)
            await asyncio.sleep(1.5)
            assert len(triggered(peer)) == 1  # 1 Wh short of 2.5 kWh: nothing
            meters.samples["c1:1"] = MeterSample(time.time(), 2500.0, 6900.0)
            await wait_for(lambda: len(triggered(peer)) == 2)
            assert triggered(peer)[1] == Decimal(2500)  # the register at the trigger's moment

            meters.samples["c1:1"] = MeterSample(time.time(), 2600.0, 2900.0)  # below 3 kW
            await wait_for(lambda: len(triggered(peer)) == 3)
            assert triggered(peer)[2] == Decimal(2600)

            site.base.set("c1:1", Availability.SUSPENDED_EV)
            meters.samples["c1:1"] = MeterSample(time.time(), 2700.0, 2900.0)
            await wait_for(lambda: len(triggered(peer)) == 4)
            assert triggered(peer)[3] == Decimal(2700)
            await asyncio.sleep(1.5)  # each condition once: nothing more
            assert len(triggered(peer)) == 4
    assert peer.invalid() == []
