"""Prices and cost on the real daemon and simulator: the price before a start and the running
cost on MQTT and the status socket, the final cost with the stop, each held against cost() of
the session's registers as the database recorded them."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge_controller.domain.pricing import cost
from edge_controller.domain.pricing.codec import tariff_from_json
from edge_controller.domain.pricing.recorded import Reading, recorded_timeline
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_mqtt import broker, mqtt_settings, watching  # noqa: F401 - fixture
from tests.integration.mqtt.broker import PREFIX, Mosquitto
from tests.integration.mqtt.helpers import app_client

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

EV = "hd1:1"
IDLE = "keba:1"
ZONE = "Europe/Berlin"
TARIFF = {
    "id": "standard",
    "currency": "EUR",
    "energy": {"prices": [{"price_per_kwh": 0.40}], "tax_rates": [{"name": "VAT", "percent": 19}]},
    "charging_time": {"prices": [{"price_per_minute": 0.05}]},
    "fixed_fee": {"prices": [{"price": 0.50}], "tax_rates": [{"name": "VAT", "percent": 19}]},
    "descriptions": [{"text": "0.476 EUR/kWh", "language": "en"}],
}


def priced(config: dict[str, Any], mosquitto: Mosquitto) -> dict[str, Any]:
    config["site"]["time_zone"] = ZONE
    config["tariffs"] = {"default": TARIFF}
    config["ocpp"]["meter_value_sample_interval_s"] = 1  # a running cost every second
    config["mqtt"] = mqtt_settings(mosquitto)
    return config


def recorded_cost(site: E2ESite, local_id: int, until_s: float) -> Any:
    """cost() of the session's registers as recorded, up to ``until_s``."""
    ((start_s,),) = site.query("SELECT start_at_s FROM sessions WHERE local_id = ?", (local_id,))
    rows = site.query(
        "SELECT at_s, energy_wh, power_w FROM meter_values WHERE session_local_id = ?"
        " AND at_s <= ? ORDER BY id",
        (local_id, until_s + 1e-6),
    )
    line = recorded_timeline(start_s, until_s, [Reading(*row) for row in rows])
    return cost(tariff_from_json(TARIFF, 1), line, ZoneInfo(ZONE))


async def test_price_running_cost_and_final_cost_match_the_recorded_registers(
    launch: Launch,
    config: dict[str, Any],
    broker: Mosquitto,  # noqa: F811 - the fixture
) -> None:
    site = await launch(priced(config, broker))
    async with watching(broker) as mqtt, app_client(broker) as events:
        await events.subscribe(f"{PREFIX}/sessions/events", qos=1)

        async def price_shown() -> bool:
            return mqtt.states.get(IDLE.replace(":", "-"), {}).get("price") is not None

        await eventually(price_shown, "the price on MQTT", 30)
        price = mqtt.states[IDLE.replace(":", "-")]["price"]
        assert price["per_kwh"] == "0.476" and price["per_session"] == "0.60"
        assert price["per_minute_charging"] == "0.05" and price["currency"] == "EUR"

        await site.control.plug(EV, profile="car3")

        async def some_cost() -> bool:
            running = mqtt.states.get(EV.replace(":", "-"), {}).get("running_cost")
            return running is not None and Decimal(running["energy_wh"]) >= 20

        await eventually(some_cost, "a running cost with energy on MQTT", 60)
        ((local_id,),) = site.query("SELECT local_id FROM sessions WHERE connector_id = ?", (EV,))
        shown = mqtt.states[EV.replace(":", "-")]["running_cost"]
        expected = recorded_cost(site, local_id, shown["until_s"])
        assert shown["incl_tax"] == str(expected.total_incl_tax.amount)
        assert shown["excl_tax"] == str(expected.total_excl_tax.amount)
        assert Decimal(shown["energy_wh"]) == expected.usage.energy_wh
        view = next(c for c in (await site.status()).connectors if c.connector_id == EV)
        assert view.running_cost is not None
        on_socket = recorded_cost(site, local_id, view.running_cost["until_s"])
        assert view.running_cost["incl_tax"] == str(on_socket.total_incl_tax.amount)

        await site.control.unplug(EV)
        stopped = await _stopped(events)
    ((stop_s, cost_minor, breakdown),) = site.query(
        "SELECT s.stop_at_s, c.total_incl_tax_minor, c.breakdown FROM sessions AS s"
        " JOIN session_costs AS c ON c.session_local_id = s.local_id WHERE s.local_id = ?",
        (local_id,),
    )
    final = recorded_cost(site, local_id, stop_s)
    assert cost_minor == final.total_incl_tax.minor > 60  # more than the fixed fee alone
    assert json.loads(breakdown)["total_incl_tax"] == str(final.total_incl_tax.amount)
    assert stopped["cost"]["incl_tax"] == str(final.total_incl_tax.amount)


async def _stopped(client: Any) -> dict[str, Any]:
    async with asyncio.timeout(30):
        async for message in client.messages:
            body: dict[str, Any] = json.loads(bytes(message.payload))
            if body.get("event") == "stopped":
                return body
    raise AssertionError("no stop event")
