"""A shared card terminal that arms itself, seen on the site display in a real browser, with the
daemon, the simulator and its ZVT terminal (which waits for a card, as an unattended one does):
one EV waiting arms it for that connector; a second EV takes it back and the display says to
choose the connector; with one EV again, the card presented at the terminal starts the session
there with the payment's token."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import DESKTOP, chromium
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_web_pay import SHARED, TERMINAL, pay_config

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

BOX_JS = """
const box = document.querySelector('section[data-terminal="entrance"]');
return {state: box.dataset.state, note: box.querySelector('[data-field=note_text]').textContent};
"""


async def box_says(browser: Any, state: str, text: str) -> None:
    async def shown() -> bool:
        found: dict[str, Any] = await browser.script(BOX_JS)
        return found["state"] == state and text in found["note"]

    await eventually(shown, f"the terminal's box says {state}: {text}", 15)


async def ledger(site: E2ESite) -> dict[str, Any]:
    return await site.control.terminal(TERMINAL)


async def test_the_terminal_arms_itself_for_the_only_waiting_ev(
    launch: Launch, config: dict[str, Any]
) -> None:
    config = pay_config(config)
    del config["payments"]["terminals"][TERMINAL]["auto_arm"]  # the default: it arms itself
    site = await launch(config)
    url = f"http://127.0.0.1:{config['web']['port']}/display"
    first, second = SHARED
    with chromium("en", DESKTOP) as browser:
        await browser.open(url)
        await site.control.plug(first, profile="car3")
        await box_says(browser, "armed", f"Ready for the car at {first}")
        assert (await ledger(site))["waiting_for_card"]
        await browser.screenshot("display-terminal-armed-en", DESKTOP)

        await site.control.plug(second, profile="car3")
        await box_says(browser, "ambiguous", "Choose your connector")
        found = await ledger(site)
        assert found["aborts_by_ecr"] == 1 and not found["waiting_for_card"]
        assert found["reservations"] == []

        await site.control.unplug(second)
        await box_says(browser, "armed", f"Ready for the car at {first}")

        async def armed() -> bool:
            return bool((await ledger(site))["waiting_for_card"])

        await eventually(armed, "the terminal waits for a card again", 10)
        await site.control.present_card(TERMINAL)
        await box_says(browser, "none", "No car is waiting")
    sessions = site.query("SELECT connector_id, id_tag, source FROM sessions")
    assert len(sessions) == 1 and sessions[0][0] == first
    assert sessions[0][1].startswith("PAY") and sessions[0][2] == "payment_terminal"
    (reserved,) = site.query("SELECT connector_id, authorised_minor FROM payments")
    assert reserved == (first, 3000)
