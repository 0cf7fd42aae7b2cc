"""Web payment by QR code end to end (OCPP 2.1, the bench CSMS playing the payment provider):
the QR code on the site display opens the CSMS's payment page, which holds the connector
(NotifyWebPaymentStarted) and, once paid, starts the session (RequestStartTransaction); the EV
charges and the session is priced as its recorded registers say. A payment that times out
frees its connector. What MQTT and the page show is checked at each step."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest

from edge_controller.domain.pricing import cost
from edge_controller.domain.pricing.codec import tariff_from_json
from edge_controller.domain.pricing.recorded import Reading, recorded_timeline
from tests.e2e.browser import PHONE, Browser, chromium
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_ocpp import OCPP_NUMBER, Csms, connected, csms, with_uplink
from tests.e2e.test_views import Recorded, broker, recording
from tests.e2e.test_web_display import TARIFF, display_url, web_config
from tests.integration.mqtt.broker import Mosquitto

__all__ = ["broker", "csms"]  # the fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

EV = "hd1:1"
CARD_JS = """
const s = document.querySelector('section[data-connector="' + arguments[0] + '"]');
const qr = s.querySelector('figure.qr');
return {paying: s.dataset.paying, state: s.dataset.state, qr: qr.dataset.qr,
        img: qr.querySelector('img').getAttribute('src'),
        img_loaded: qr.querySelector('img').naturalWidth > 0};
"""


def paying_site(config: dict[str, Any], broker: Mosquitto, csms: Csms) -> dict[str, Any]:
    config = with_uplink(web_config(config, broker), csms.port)
    config["ocpp"]["version"] = "2.1"
    template = f"http://127.0.0.1:{csms.port}/pay/{{identity}}/{{evse}}?n={{nonce}}"
    config["payments"] = {"web": {"url_template": template}}
    return config


def payment(mqtt: Recorded) -> dict[str, Any]:
    found = mqtt.on(f"connectors/{EV.replace(':', '-')}/payment")
    return found[-1] if found else {}


def availability(mqtt: Recorded) -> str | None:
    found = mqtt.on(f"connectors/{EV.replace(':', '-')}/state")
    return found[-1]["availability"] if found else None


async def card(browser: Browser) -> dict[str, Any]:
    found: dict[str, Any] = await browser.script(CARD_JS, EV)
    return found


async def test_a_web_payment_that_times_out_frees_the_connector(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, csms: Csms
) -> None:
    site = await launch(paying_site(config, broker, csms))
    await connected(site, csms)
    async with recording(broker) as mqtt:
        with chromium("en", PHONE) as browser:
            await browser.open(display_url(config, f"/display/{EV}"))
            await csms.csms.send(
                "site1", "NotifyWebPaymentStarted", {"evseId": OCPP_NUMBER[EV], "timeout": 4}
            )

            async def held() -> bool:
                shown = await card(browser)
                return (
                    payment(mqtt).get("held_until_s") is not None
                    and availability(mqtt) == "Reserved"
                    and shown["paying"] == "true"
                )

            await eventually(held, "the connector held on MQTT and the page", 15)

            async def freed() -> bool:
                shown = await card(browser)
                return (
                    payment(mqtt).get("held_until_s") is None
                    and availability(mqtt) == "Available"
                    and shown["paying"] == "false"
                    and shown["state"] == "free"
                )

            await eventually(freed, "the connector free again after the timeout", 20)
    assert site.query("SELECT COUNT(*) FROM sessions") == [(0,)]


async def test_a_web_payment_from_the_displays_qr_code_charges_and_is_priced(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, csms: Csms
) -> None:
    site = await launch(paying_site(config, broker, csms))
    await connected(site, csms)
    async with recording(broker) as mqtt:
        with chromium("en", PHONE) as browser:
            await browser.open(display_url(config, f"/display/{EV}"))

            async def qr_shown() -> bool:
                shown = await card(browser)
                return bool(shown["qr"]) and shown["img_loaded"]

            await eventually(qr_shown, "the QR code on the page", 20)
            await browser.screenshot("display-payment-qr-phone", PHONE)  # a test artefact
            url = (await card(browser))["qr"]
            # The page shows what MQTT says; the URL is the CSMS's page for this EVSE.
            assert payment(mqtt)["qr_url"] == url and payment(mqtt)["qr_source"] == "config"
            assert urlparse(url).path == f"/pay/site1/{OCPP_NUMBER[EV]}"
            # The driver's phone opens it (the code's URL) and pays.
            await browser.open(url)
            await eventually(
                lambda: _true(availability(mqtt) == "Reserved"), "held while paying", 15
            )
            await browser.call(lambda d: d.find_element("id", "pay").click())
            outcome = await browser.script(
                "return document.getElementById('outcome').dataset.status"
            )
            assert outcome == "Accepted"
        await site.control.plug(EV, profile="car3")
        local_id = await _charged(site, mqtt)
        await site.control.unplug(EV)
        await eventually(lambda: _true(_stopped(site, local_id)), "the session stopped", 30)
    ((id_tag, stop_s),) = site.query(
        "SELECT id_tag, stop_at_s FROM sessions WHERE local_id = ?", (local_id,)
    )
    assert id_tag.startswith("WEB")  # the token the payment page started it with
    await eventually(lambda: _true(_priced(site, local_id)), "the session priced", 30)
    ((cost_minor,),) = site.query(
        "SELECT total_incl_tax_minor FROM session_costs WHERE session_local_id = ?", (local_id,)
    )
    expected = _recorded_cost(site, local_id, stop_s)
    assert cost_minor == expected.total_incl_tax.minor > 50  # energy beyond the fixed fee
    started = [c for c in csms.calls("TransactionEvent") if c["eventType"] == "Started"]
    assert [c["idToken"]["idToken"] for c in started] == [id_tag]


async def _true(value: bool) -> bool:
    return value


async def _charged(site: E2ESite, mqtt: Recorded) -> int:
    async def some_energy() -> bool:
        found = mqtt.on(f"connectors/{EV.replace(':', '-')}/state")
        return bool(found) and (found[-1].get("session_energy_wh") or 0) >= 15

    await eventually(some_energy, "the paid session charging", 60)
    ((local_id,),) = site.query("SELECT local_id FROM sessions WHERE connector_id = ?", (EV,))
    return int(local_id)


def _stopped(site: E2ESite, local_id: int) -> bool:
    rows = site.query("SELECT stop_at_s FROM sessions WHERE local_id = ?", (local_id,))
    return bool(rows) and rows[0][0] is not None


def _priced(site: E2ESite, local_id: int) -> bool:
    query = "SELECT COUNT(*) FROM session_costs WHERE session_local_id = ?"
    return site.query(query, (local_id,)) == [(1,)]


def _recorded_cost(site: E2ESite, local_id: int, until_s: float) -> Any:
    """cost() of the session's registers as recorded (the site's zone: UTC)."""
    from zoneinfo import ZoneInfo

    ((start_s,),) = site.query("SELECT start_at_s FROM sessions WHERE local_id = ?", (local_id,))
    rows = site.query(
        "SELECT at_s, energy_wh, power_w FROM meter_values WHERE session_local_id = ?"
        " AND at_s <= ? ORDER BY id",
        (local_id, until_s + 1e-6),
    )
    line = recorded_timeline(start_s, until_s, [Reading(*row) for row in rows])
    return cost(tariff_from_json(TARIFF, 1), line, ZoneInfo("UTC"))
