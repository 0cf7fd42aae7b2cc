"""The site display in a real browser (headless Chromium), cross-checked against MQTT.

Real simulator, daemon and Mosquitto; an independent MQTT subscriber records what the site
publishes. Whatever the page shows for a moment of the control loop (``data-at``) must be what
MQTT published for that same moment: state, power, session energy.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge_controller.config.settings import MqttSettings
from tests.e2e.browser import DESKTOP, PHONE, Browser, chromium
from tests.e2e.conftest import Launch
from tests.e2e.launch import eventually
from tests.e2e.site import CONNECTORS
from tests.e2e.test_mqtt import mqtt_settings
from tests.e2e.test_views import Recorded, broker, recording
from tests.integration.mqtt.broker import Mosquitto
from tests.ports import free_port

__all__ = ["broker"]  # the fixture, shared with test_views

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]
ENERGY = MqttSettings()  # the session energy's deadband and period: the defaults

STATE_OF = {"Available": "free", "Charging": "charging", "Faulted": "out_of_order"}
CARDS_JS = """
return Array.from(document.querySelectorAll('section[data-connector]')).map(s => ({
  id: s.dataset.connector, state: s.dataset.state, at_s: s.dataset.at,
  session: s.dataset.session, power_w: s.dataset.powerW, energy_wh: s.dataset.energyWh,
  state_text: s.querySelector('[data-field=state_text]').textContent,
  power_text: s.querySelector('[data-field=power_text]').textContent,
  energy_text: s.querySelector('[data-field=energy_text]').textContent,
  elapsed_text: s.querySelector('[data-field=elapsed_text]').textContent,
  help_text: s.querySelector('[data-field=help_text]').textContent,
  price_text: s.querySelector('[data-field=price_text]').textContent,
  cost_text: s.querySelector('[data-field=cost_text]').textContent,
  cost_incl_tax: s.dataset.costInclTax,
  visible_price: s.querySelector('[data-field=price_text]').offsetParent !== null,
  visible_energy: s.querySelector('[data-field=energy_text]').offsetParent !== null,
}));
"""


TARIFF = {
    "id": "standard",
    "currency": "EUR",
    "prices_include_tax": True,
    "energy": {"prices": [{"price_per_kwh": 0.49}], "tax_rates": [{"name": "VAT", "percent": 19}]},
    "fixed_fee": {"prices": [{"price": 0.50}], "tax_rates": [{"name": "VAT", "percent": 19}]},
}


def web_config(config: dict[str, Any], broker: Mosquitto) -> dict[str, Any]:
    config["mqtt"] = mqtt_settings(broker)
    config["tariffs"] = {"default": TARIFF}
    config["web"] = {"enabled": True, "port": free_port(), "push_interval_s": 1.0}
    return config


def display_url(config: dict[str, Any], path: str = "/display") -> str:
    return f"http://127.0.0.1:{config['web']['port']}{path}"


async def cards(browser: Browser) -> dict[str, dict[str, Any]]:
    found: list[dict[str, Any]] = await browser.script(CARDS_JS)
    return {card["id"]: card for card in found}


def mqtt_connector(mqtt: Recorded, cid: str) -> list[dict[str, Any]]:
    return mqtt.on(f"connectors/{cid.replace(':', '-')}/state")


def matching(mqtt: Recorded, card: dict[str, Any]) -> dict[str, Any] | None:
    """The MQTT state standing at the control-loop moment the card shows: the newest published
    at or before it (a connector's state is published when it changes). Known once a site
    state of a later moment has arrived: that one is published after the connector states of
    the moments before it."""
    if not card.get("at_s"):
        return None
    at_s = round(float(card["at_s"]), 3)
    if not any(s["at_s"] > at_s for s in mqtt.on("site/state")):
        return None
    standing = [m for m in mqtt_connector(mqtt, card["id"]) if m["at_s"] <= at_s]
    return standing[-1] if standing else None


def _number(value: str | None) -> float | None:
    return None if value in (None, "") else float(str(value))


def published_then(card: dict[str, Any], published: dict[str, Any]) -> bool:
    """True if MQTT published this state at the very moment the card shows."""
    return bool(published["at_s"] == round(float(card["at_s"]), 3))


def energy_agrees(card: dict[str, Any], energy_wh: float, published: dict[str, Any]) -> bool:
    """The card's session energy is the MQTT state's: the same where MQTT published at the
    card's moment; else no less and within the deadband (``energy_step_wh``) of it, from a
    state at most ``energy_every_s`` older (docs/mqtt.md: the energy alone is published once
    it moved that far or was last published that long ago)."""
    mqtt_wh = published["session_energy_wh"]
    if published_then(card, published) or mqtt_wh is None:
        return bool(energy_wh == mqtt_wh)
    behind_s = round(float(card["at_s"]), 3) - published["at_s"]
    ahead_wh = round(energy_wh - mqtt_wh, 1)
    return ahead_wh == 0 or (
        0 < ahead_wh < ENERGY.energy_step_wh and behind_s < ENERGY.energy_every_s
    )


def agrees(card: dict[str, Any], published: dict[str, Any], language: str) -> list[str]:
    """What differs between the card and the MQTT state of the same moment."""
    wrong = []
    if STATE_OF.get(published["availability"], card["state"]) != card["state"]:
        wrong.append(f"state {card['state']} vs {published['availability']}")
    power_w = _number(card["power_w"])
    mqtt_power = published["power_w"]
    if (power_w is None) != (mqtt_power is None) or (
        power_w is not None and round(power_w, 1) != mqtt_power
    ):
        wrong.append(f"power {power_w} vs {mqtt_power}")
    energy_wh = _number(card["energy_wh"])
    if energy_wh is not None and not energy_agrees(card, round(energy_wh, 1), published):
        wrong.append(f"energy {energy_wh} vs {published['session_energy_wh']}")
    price = published["price"]
    if price is None or not card["price_text"].startswith(
        f"{price['per_kwh']} EUR/kWh".replace(".", "," if language == "de" else ".")
    ):
        wrong.append(f"price {card['price_text']!r} vs {price}")
    cost = published["running_cost"]
    if (cost is None) != (card["cost_incl_tax"] in (None, "")) or (
        cost is not None and card["cost_incl_tax"] != cost["incl_tax"]
    ):
        wrong.append(f"cost {card['cost_incl_tax']!r} vs {cost}")
    if power_w is not None:
        shown = f"{max(power_w, 0) / 1000:.1f}"
        shown = shown.replace(".", ",") if language == "de" else shown
        if card["power_text"] != f"{shown} kW":
            wrong.append(f"power text {card['power_text']!r} for {power_w} W")
    return wrong


async def test_the_display_follows_the_site_as_mqtt_shows_it(
    launch: Launch, config: dict[str, Any], broker: Mosquitto
) -> None:
    site = await launch(web_config(config, broker))
    cid = "hd1:1"
    async with recording(broker) as mqtt:
        with chromium("de", DESKTOP) as browser:
            await browser.open(display_url(config))
            title = await browser.call(lambda d: d.title)
            assert title == "Laden bei site1"

            async def all_free() -> bool:
                shown = await cards(browser)
                return sorted(shown) == sorted(CONNECTORS) and all(
                    c["state"] == "free" and c["state_text"] == "Frei" for c in shown.values()
                )

            await eventually(all_free, "every connector shown free, in German")
            await site.control.plug(cid, profile="car3")

            async def mqtt_charging() -> bool:
                return any(m["availability"] == "Charging" for m in mqtt_connector(mqtt, cid))

            async def page_charging() -> bool:
                card = (await cards(browser))[cid]
                return card["state"] == "charging" and card["state_text"] == "Lädt"

            mqtt_s = await eventually(mqtt_charging, "MQTT shows the EV charging", 60)
            page_s = await eventually(page_charging, "the page shows the EV charging", 60)
            print(
                f"charging: on MQTT {mqtt_s:.2f} s after the plug, on the page {page_s:.2f} s later"
            )

            # Every moment the page shows is what MQTT shows for it: same figures (the session
            # energy within its deadband, unless MQTT published at that moment). A moment waits
            # until MQTT has published past it; one that MQTT published itself is among them.
            compared: list[tuple[dict[str, Any], dict[str, Any]]] = []
            waiting: dict[str, dict[str, Any]] = {}

            async def three_moments_compared() -> bool:
                card = (await cards(browser))[cid]
                drawing = (_number(card["power_w"]) or 0.0) > 1000  # the EV draws (>= 6 A)
                if drawing and card.get("at_s"):
                    waiting.setdefault(card["at_s"], card)
                for at_s, shown in list(waiting.items()):
                    published = matching(mqtt, shown)
                    if published is not None:
                        compared.append((shown, published))
                        del waiting[at_s]
                return len(compared) >= 3 and any(published_then(*pair) for pair in compared)

            await eventually(three_moments_compared, "three moments of the page found on MQTT")
            for card, published in compared:
                assert agrees(card, published, "de") == [], (card, published)
                assert card["session"] == "true" and card["visible_energy"]
            last_card = compared[-1][0]
            assert last_card["visible_price"] and last_card["cost_text"].endswith(" EUR")
            assert last_card["energy_text"].endswith(" kWh")
            assert last_card["elapsed_text"].endswith(" h")
            await browser.screenshot("display-desktop-de", DESKTOP)
            await browser.screenshot("display-phone-de", PHONE)


async def test_one_connector_in_english_shows_a_fault_and_what_to_do(
    launch: Launch, config: dict[str, Any], broker: Mosquitto
) -> None:
    site = await launch(web_config(config, broker))
    cid = "keba:1"
    async with recording(broker) as mqtt:
        with chromium("en-GB", PHONE) as browser:
            await browser.open(display_url(config, f"/display/{cid}"))
            assert sorted(await cards(browser)) == [cid]
            await site.control.inject_fault("keba", "no_answer")

            async def out_of_order() -> bool:
                card = (await cards(browser))[cid]
                return card["state"] == "out_of_order" and card["state_text"] == "Out of order"

            await eventually(out_of_order, "the page shows keba:1 out of order", 60)
            card = (await cards(browser))[cid]
            assert "use another one" in card["help_text"]
            assert card["power_text"] == "-"
            published = mqtt_connector(mqtt, cid)[-1]
            assert published["availability"] in ("Faulted", "Unavailable"), published
            await browser.screenshot("display-connector-phone-en", PHONE)
            await site.control.clear_faults("keba")

            async def free_again() -> bool:
                return (await cards(browser))[cid]["state"] == "free"

            await eventually(free_again, "keba:1 free again", 60)


async def test_an_unknown_connector_is_a_404_page_and_only_our_assets_load(
    launch: Launch, config: dict[str, Any], broker: Mosquitto
) -> None:
    await launch(web_config(config, broker))
    with chromium("en", DESKTOP) as browser:
        await browser.open(display_url(config, "/display/nope:9"))
        body = await browser.call(lambda d: d.find_element("tag name", "body").text)
        assert "There is no charger nope:9 at this site." in body
        await browser.open(display_url(config))
        resources: list[str] = await browser.script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        base = display_url(config, "/")
        assert resources and all(r.startswith(base) for r in resources), resources
    await asyncio.sleep(0)
