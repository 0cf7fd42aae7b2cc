"""The Open Charge Alliance's pricing extension for OCPP 1.6 against a real CSMS over a real
websocket: a CSMS that calculates cost centrally sends RunningCost, FinalCost and SetUserPrice
as DataTransfer (vendor org.openchargealliance.costmsg); the site shows them as sent, next to
its own price, and answers what it cannot use with the status the extension names."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.app.uplink import CentralPriceSink
from edge_controller.domain.model import Token
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.tariff_store import SITE
from edge_controller.uplink.v16.costmsg import VENDOR_ID
from tests.integration.ocpp.harness import running_csms, settings_for, wait_for
from tests.integration.ocpp.sessions_site import CARD, live_site, uplink_to

pytestmark = pytest.mark.integration
TARIFF = {"id": "site", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.40"}]}}


async def cost_message(csms: BenchCsms, message_id: str, data: Any, vendor: str = VENDOR_ID) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    payload = {"vendorId": vendor, "messageId": message_id, "data": text}
    return str((await csms.send("site1", "DataTransfer", payload))["status"])


def running(transaction_id: int, cost: Any = 1.23, **extra: Any) -> dict[str, Any]:
    return {
        "transactionId": transaction_id,
        "timestamp": "2026-03-02T10:00:00Z",
        "meterValue": 3500,
        "cost": cost,
        "state": "Charging",
        "chargingPrice": {"kWhPrice": 0.35, "hourPrice": 0.0, "flatFee": 0.5},
    } | extra


async def test_central_costs_are_shown_as_the_csms_sent_them(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with (
        running_csms(csms) as port,
        live_site(tmp_path, {SITE: TARIFF}) as (site, outbox),
    ):
        assert site.pricing is not None
        sink = CentralPriceSink(site.manager.recorder.store, site.pricing)
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with uplink_to(settings, site, outbox, tmp_path, prices=sink) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            await site.plug("c1:1")
            assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted

            tid = None
            for _ in range(200):  # until StartTransaction.conf gave the CSMS's transaction id
                (record,) = await site.manager.recorder.store.open_sessions()
                if (tid := record.remote_transaction_id) is not None:
                    break
                await asyncio.sleep(0.05)
            assert tid is not None

            assert await cost_message(csms, "RunningCost", running(tid)) == "Accepted"
            shown = site.shown("c1:1")
            assert shown.csms_cost is not None
            assert shown.csms_cost["cost"] == "1.23" and shown.csms_cost["final"] is False
            assert shown.csms_cost["meter_wh"] == 3500 and shown.csms_cost["charging"] is True
            assert shown.price is not None and shown.price["per_kwh"] == "0.40"  # the site's own

            offer = {"idToken": CARD, "priceText": "0.35 EUR/kWh for your contract"}
            assert await cost_message(csms, "SetUserPrice", offer) == "Accepted"
            shown = site.shown("c1:1")
            assert shown.csms_cost is not None
            assert shown.csms_cost["user_price_text"] == "0.35 EUR/kWh for your contract"

            # What cannot be used is answered, never taken: the connection stays.
            assert await cost_message(csms, "RunningCost", running(tid + 999)) == "Rejected"
            assert await cost_message(csms, "RunningCost", running(tid, cost="1.30")) == "Rejected"
            assert await cost_message(csms, "RunningCost", "{not json") == "Rejected"
            assert await cost_message(csms, "RunningCost", running(tid, state="Busy")) == "Rejected"
            assert await cost_message(csms, "Discount", {}) == "UnknownMessageId"
            assert await cost_message(csms, "RunningCost", running(tid), "com.other") == (
                "UnknownVendorId"
            )
            shown = site.shown("c1:1")
            assert shown.csms_cost is not None and shown.csms_cost["cost"] == "1.23"  # unchanged

            await site.unplug("c1:1")
            await wait_for(lambda: any(a == "StopTransaction" for _, a, _ in csms.record.calls))
            late = running(tid, cost=1.40)
            assert await cost_message(csms, "RunningCost", late) == "Rejected"  # it has ended
            final = {"transactionId": tid, "cost": 4.8, "priceText": "4.80 EUR, thank you",
                     "qrCodeText": "https://csms.example/r/1"}  # fmt: skip
            assert await cost_message(csms, "FinalCost", final) == "Accepted"
            shown = site.shown("c1:1")
            assert shown.csms_cost is not None and shown.csms_cost["final"] is True
            assert shown.csms_cost["cost"] == "4.8"
            assert shown.csms_cost["price_text"] == "4.80 EUR, thank you"
            assert uplink.online and len(csms.connected) == 1


async def change(csms: BenchCsms, key: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    answer = await csms.send("site1", "ChangeConfiguration", {"key": key, "value": text})
    return str(answer["status"])


async def test_a_default_price_from_the_csms_becomes_the_site_tariff(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with (
        running_csms(csms) as port,
        live_site(tmp_path, {SITE: TARIFF}) as (site, outbox),
    ):
        assert site.pricing is not None
        sink = CentralPriceSink(site.manager.recorder.store, site.pricing)
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with uplink_to(settings, site, outbox, tmp_path, prices=sink) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            text = {"priceText": "0,49 EUR/kWh", "priceTextOffline": "0,49 EUR/kWh (offline)"}
            assert await change(csms, "DefaultPriceText,de", text) == "Accepted"
            price = {
                "priceText": "0.49 EUR/kWh",
                "chargingPrice": {"kWhPrice": 0.49, "hourPrice": 1.20, "flatFee": 0.5},
                "idlePrice": {"graceMinutes": 30, "hourPrice": 6},
            }
            assert await change(csms, "DefaultPrice", price) == "Accepted"
            shown = site.shown("c1:1").price
            assert shown is not None and shown["tariff_id"] == "ocpp16-default-price"
            assert shown["per_kwh"] == "0.49" and shown["per_minute_charging"] == "0.02"
            assert shown["per_session"] == "0.50" and shown["currency"] == "EUR"
            assert shown["per_minute_idle"] == "0.1" and shown["idle_after_s"] == 1800
            found = site.pricing.tariff_for("c1:1")
            assert found is not None and found[1].source == "ocpp16:DefaultPrice"
            assert {d.language: d.text for d in found[0].descriptions} == {"de": "0,49 EUR/kWh"}

            assert await change(csms, "DefaultPrice", {"chargingPrice": {"kWhPrice": -1}}) == (
                "Rejected"
            )
            assert await change(csms, "DefaultPrice", "{oops") == "Rejected"
            assert await change(csms, "DefaultPriceText,fr", text) == "NotSupported"
            kept = await csms.send("site1", "GetConfiguration", {"key": ["DefaultPrice"]})
            assert json.loads(kept["configurationKey"][0]["value"]) == json.loads(json.dumps(price))
            shown = site.shown("c1:1").price
            assert (
                shown is not None and shown["per_kwh"] == "0.49"
            )  # the refused ones changed nothing
