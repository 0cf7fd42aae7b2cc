"""Paying by card from the site display, in a real browser, with the daemon, the simulator and
its ZVT terminal: a terminal shared by two connectors with an EV waiting at each says it cannot
tell which one a card pays for, and a press on its own button arms nothing; the driver's press
on their connector's card arms it for that connector, and the session starts there with the
payment's token."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import DESKTOP, PHONE, chromium
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

TERMINAL = "entrance"
SHARED = ("hd1:1", "keba:1")

TERMINAL_JS = """
const box = document.querySelector('section[data-terminal="entrance"]');
const card = document.querySelector('section[data-connector="hd1:1"]');
return {state: box.dataset.state, note: box.querySelector('[data-field=note_text]').textContent,
        ways: Array.from(card.querySelectorAll('.how li')).map(li => li.textContent),
        here: card.querySelector('[data-field=terminal_text]').textContent};
"""


def pay_config(config: dict[str, Any]) -> dict[str, Any]:
    config["ocpp"]["authorization"].pop("free_vend_id_tag")  # nothing starts unpaid
    config["tariffs"] = {"default": {
        "id": "std", "currency": "EUR", "prices_include_tax": True,
        "energy": {"prices": [{"price_per_kwh": 0.49}]},
    }}  # fmt: skip
    config["payments"] = {"terminals": {TERMINAL: {
        "host": "127.0.0.1", "port": free_port(), "password": "135790",
        "connectors": list(SHARED), "pre_authorisation_amount": "30.00", "simulated": True,
        "auto_arm": False,
    }}}  # fmt: skip
    config["web"] = {"enabled": True, "port": free_port(), "push_interval_s": 1.0}
    return config


async def both_waiting(site: E2ESite) -> None:
    for cid in SHARED:
        await site.control.plug(cid, profile="car3")

    async def waiting() -> bool:
        shown = {c.connector_id: c for c in (await site.status()).connectors}
        return all(shown[cid].availability.value == "Preparing" for cid in SHARED)

    await eventually(waiting, "an EV waits for authorisation at both connectors", 60)


async def test_a_shared_terminal_is_armed_only_for_the_connector_the_driver_names(
    launch: Launch, config: dict[str, Any]
) -> None:
    site = await launch(pay_config(config))
    url = f"http://127.0.0.1:{config['web']['port']}/display"
    await site.control.terminal_behaviour(TERMINAL, "approve")
    with chromium("de", DESKTOP) as browser:
        await browser.open(url)
        await both_waiting(site)

        async def ambiguous() -> bool:
            found: dict[str, Any] = await browser.script(TERMINAL_JS)
            return found["state"] == "ambiguous"

        await eventually(ambiguous, "the display says the terminal is not ready", 15)
        shown: dict[str, Any] = await browser.script(TERMINAL_JS)
        assert "An hd1:1, keba:1 warten Autos" in shown["note"]
        assert "Mit Bankkarte am Terminal \u201eentrance\u201c bezahlen" in shown["ways"]
        assert "nicht von selbst bereit" in shown["here"]
        await browser.screenshot("display-terminal-ambiguous-de", DESKTOP)

        await browser.click('section[data-terminal="entrance"] form.pay button')
        await browser.wait_for_text("wurde nicht bereit gemacht")
        assert "hd1:1, keba:1" in await browser.text()
        assert site.query("SELECT local_id FROM sessions") == []
        assert (await site.control.terminal(TERMINAL))["reservations"] == []

        await browser.open(url)
        await browser.click('section[data-connector="hd1:1"] form.pay button')
        # the answer comes once the (simulated) card holder is done
        await browser.wait_for_text("Bezahlt. Das Laden an hd1:1 beginnt.")
    sessions = site.query("SELECT connector_id, id_tag, source FROM sessions")
    assert len(sessions) == 1 and sessions[0][0] == "hd1:1"
    assert sessions[0][1].startswith("PAY") and sessions[0][2] == "payment_terminal"
    (reserved,) = site.query("SELECT connector_id, authorised_minor FROM payments")
    assert reserved == ("hd1:1", 3000)
    with chromium("en", PHONE) as browser:
        await browser.open(f"{url}/keba:1")
        await browser.screenshot("display-terminal-phone-en", PHONE)
