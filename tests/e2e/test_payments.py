"""Paying at the card terminal on the whole site: the daemon and simulator processes, the
simulator's ZVT terminal and a real mosquitto. A declined card starts nothing; an approved one
starts the session, which stops when its cost reaches the pre-authorised amount; a SIGTERM
while the capture cannot reach the terminal leaves exactly one capture of the priced cost after
the restart; and the revenue summary is the sum of the settlements. Paying through the REST
API takes the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_mqtt import broker, mqtt_settings
from tests.integration.mqtt.broker import PREFIX, Mosquitto
from tests.integration.mqtt.helpers import app_client, as_json, on_topic, wait_message
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]
__all__ = ["broker"]  # the mosquitto fixture, shared with test_mqtt

CONNECTOR = "hd1:1"
TERMINAL = "entrance"
RESERVED_MINOR = 50  # 0.50 EUR at 50 EUR/kWh: 10 Wh, a few seconds of charging


def paying_site(config: dict[str, Any], broker: Mosquitto) -> dict[str, Any]:
    config["ocpp"]["authorization"].pop("free_vend_id_tag")  # nothing starts unpaid
    config["ocpp"]["meter_value_sample_interval_s"] = 1  # the running cost follows closely
    config["mqtt"] = mqtt_settings(broker) | {"allowed_commands": ["pay"]}
    config["tariffs"] = {"default": {
        "id": "fast", "currency": "EUR", "prices_include_tax": True,
        "energy": {"prices": [{"price_per_kwh": 50}]},
    }}  # fmt: skip
    config["payments"] = {"terminals": {TERMINAL: {
        "host": "127.0.0.1", "port": free_port(), "password": "135790",
        "connectors": [CONNECTOR], "pre_authorisation_amount": "0.50", "simulated": True,
        "auto_arm": False,
    }}}  # fmt: skip
    return config


async def pay(broker: Mosquitto) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pay command's two answers: pending, then the outcome."""
    topic = f"{PREFIX}/cmd/pay/response"
    async with app_client(broker) as app:
        await app.subscribe(topic, qos=1)
        await app.publish(f"{PREFIX}/cmd/pay", json.dumps({"connector": CONNECTOR}), qos=1)
        first = as_json(await wait_message(app, on_topic(topic), 30.0))
        outcome = as_json(await wait_message(app, on_topic(topic), 60.0))
    return first, outcome


@pytest.fixture
async def site(launch: Launch, config: dict[str, Any], broker: Mosquitto) -> AsyncIterator[E2ESite]:
    site = await launch(paying_site(config, broker))
    await plugged(site)
    yield site


async def plugged(site: E2ESite) -> None:
    """An EV plugged in at CONNECTOR, and the daemon has seen it."""
    await site.control.plug(CONNECTOR, profile="car3")

    async def waiting() -> bool:
        shown = {c.connector_id: c for c in (await site.status()).connectors}
        return shown[CONNECTOR].availability.value == "Preparing"

    await eventually(waiting, f"{CONNECTOR} shown Preparing (an EV waits)")


def summary(site: E2ESite) -> list[dict[str, Any]]:
    args = [sys.executable, "-m", "edge_controller", "sessions", "--summary", "--format", "json",
            "--config", str(site.config_path)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


async def test_card_paid_session_stops_at_its_reservation_and_is_captured_once(
    site: E2ESite, broker: Mosquitto
) -> None:
    await site.control.terminal_behaviour(TERMINAL, "decline")
    pending, declined = await pay(broker)
    assert pending["ok"] is True and pending["pending"] is True
    assert declined["ok"] is False and "not approved" in declined["error"]
    assert declined["pending"] is False
    assert site.query("SELECT local_id FROM sessions") == []
    assert (await site.control.terminal(TERMINAL))["reservations"] == []
    assert (await site.state())["connectors"][CONNECTOR]["offered_a"] == 0

    await site.control.terminal_behaviour(TERMINAL, "approve")
    _pending, approved = await pay(broker)
    assert approved["ok"] is True, approved
    # the terminal drops every connection from now on: the capture cannot reach it
    await site.control.terminal_behaviour(TERMINAL, "disconnect")

    async def stopped_at_the_limit() -> bool:
        rows = site.query("SELECT stop_reason FROM sessions WHERE stop_at_s IS NOT NULL")
        return rows == [("CostLimitReached",)]

    await eventually(stopped_at_the_limit, "the session stopped at its paid amount", 60)

    async def capture_tried() -> bool:
        return site.query("SELECT state, attempts FROM payments") == [("capturing", 1)]

    await eventually(capture_tried, "a capture was tried and not answered")
    assert await site.stop_daemon() == 0  # SIGTERM between the stop and the capture
    assert (await site.control.terminal(TERMINAL))["captures"] == []

    await site.control.terminal_behaviour(TERMINAL, "approve")
    await site.start_daemon()

    async def settled() -> bool:
        return site.query("SELECT state FROM payments") == [("settled",)]

    await eventually(settled, "the capture after the restart")
    ((priced,),) = site.query("SELECT total_incl_tax_minor FROM session_costs")
    ((settled_minor,),) = site.query("SELECT settled_minor FROM payments")
    ledger = await site.control.terminal(TERMINAL)
    # It stops at the reading that reaches the reservation, or before one projected past it:
    # never above what was paid, and the session costs what was captured.
    assert ledger["captures"] == [[1, priced]]  # one capture, at the terminal
    assert 0 < priced == settled_minor <= RESERVED_MINOR
    (total,) = [row for row in summary(site) if row["day"] == "total"]
    assert total["incl_tax"] == f"{priced / 100:.2f}" and total["sessions"] == 1


async def test_pay_over_rest_arms_the_terminal_and_answers_with_the_outcome(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, tmp_path: Path
) -> None:
    token = "kiosk-token-0123456789abcdef"
    (tmp_path / "kiosk.token").write_text(token)
    (tmp_path / "kiosk.token").chmod(0o600)
    config = paying_site(config, broker)
    config["web"] = {"enabled": True, "port": free_port(), "api_tokens": {"kiosk": {
        "token_file": str(tmp_path / "kiosk.token"), "allowed_commands": ["pay"],
    }}}  # fmt: skip
    site = await launch(config)
    await plugged(site)
    base, auth = (
        f"http://127.0.0.1:{config['web']['port']}/api/v1",
        {"Authorization": f"Bearer {token}"},
    )

    async def pay_rest(http: aiohttp.ClientSession, cid: str) -> tuple[int, dict[str, Any]]:
        async with http.post(f"{base}/connectors/{cid}/pay", headers=auth) as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as http:
        status, answer = await pay_rest(http, "keba:1")  # no terminal serves it
        assert (status, answer["code"]) == (409, "command_refused")
        assert "no card terminal serves this connector" in answer["message"]
        await site.control.terminal_behaviour(TERMINAL, "decline")
        status, answer = await pay_rest(http, CONNECTOR)
        assert (status, answer["code"]) == (409, "command_refused")
        assert "not approved" in answer["message"]
        assert site.query("SELECT local_id FROM sessions") == []
        await site.control.terminal_behaviour(TERMINAL, "approve")
        status, answer = await pay_rest(http, CONNECTOR)
    assert (status, answer["ok"], answer["connector_id"]) == (200, True, CONNECTOR)
    ((id_tag,),) = site.query("SELECT id_tag FROM sessions")
    assert id_tag.startswith("PAY")  # started by the payment, by the one authorization rule
    ledger = await site.control.terminal(TERMINAL)
    assert [r["amount_minor"] for r in ledger["reservations"]] == [RESERVED_MINOR]

    async def charging() -> bool:
        return float((await site.state())["connectors"][CONNECTOR]["offered_a"]) > 0

    await eventually(charging, "the paid session charges")
