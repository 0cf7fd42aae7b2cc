"""Display messages from the CSMS (OCPP 2.1, the bench CSMS) reach every place the site shows
things to drivers: the retained MQTT topics (the site's and each connector's) and the site
display in a real browser (headless Chromium), and leave both when the CSMS clears them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import DESKTOP, Browser, chromium
from tests.e2e.conftest import Launch
from tests.e2e.launch import eventually
from tests.e2e.test_ocpp import OCPP_NUMBER, Csms, connected, csms, with_uplink
from tests.e2e.test_views import Recorded, broker, recording
from tests.e2e.test_web_display import display_url, web_config
from tests.integration.mqtt.broker import Mosquitto

__all__ = ["broker", "csms"]  # the fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

MESSAGES_JS = """
const texts = (list) => list ? Array.from(list.children).map(li => li.textContent) : [];
const cards = {};
document.querySelectorAll('section[data-connector]').forEach(s => {
  cards[s.dataset.connector] = texts(s.querySelector('[data-list=messages]'));
});
return {site: texts(document.querySelector('ul.site[data-list=messages]')), cards: cards};
"""


def info(message_id: int, text: str, priority: str, **more: Any) -> dict[str, Any]:
    return {"message": {"id": message_id, "priority": priority,
                        "message": {"format": "UTF8", "content": text}, **more}}  # fmt: skip


def texts(mqtt: Recorded, suffix: str) -> list[str] | None:
    """The contents of the latest message list published on ``suffix`` (None: none yet)."""
    found = mqtt.on(suffix)
    return None if not found else [m["content"] for m in found[-1]["messages"]]


async def shown(browser: Browser) -> dict[str, Any]:
    result: dict[str, Any] = await browser.script(MESSAGES_JS)
    return result


async def test_csms_messages_on_mqtt_and_the_display_page(
    launch: Launch, config: dict[str, Any], broker: Mosquitto, csms: Csms
) -> None:
    config = with_uplink(web_config(config, broker), csms.port)
    config["ocpp"]["version"] = "2.1"
    site = await launch(config)
    await connected(site, csms)
    evse = OCPP_NUMBER["hd1:1"]
    async with recording(broker) as mqtt:
        with chromium("en", DESKTOP) as browser:
            await browser.open(display_url(config))
            answers = [
                await csms.csms.send("site1", "SetDisplayMessage", body)
                for body in (
                    info(1, "Welcome to site1", "NormalCycle"),
                    info(
                        2,
                        "Bay closes at 20:00",
                        "InFront",
                        display={"name": "Display", "evse": {"id": evse}},
                    ),
                )
            ]
            assert [a["status"] for a in answers] == ["Accepted", "Accepted"]

            async def everywhere() -> bool:
                page = await shown(browser)
                return (
                    texts(mqtt, "site/messages") == ["Welcome to site1"]
                    and texts(mqtt, "connectors/hd1-1/messages")
                    == ["Bay closes at 20:00", "Welcome to site1"]
                    and page["site"] == ["Welcome to site1"]
                    and page["cards"]["hd1:1"] == ["Bay closes at 20:00"]
                    and page["cards"]["keba:1"] == []
                )

            await eventually(everywhere, "both messages on MQTT and on the page", 20)
            await browser.screenshot("display-messages-desktop", DESKTOP)  # a test artefact
            cleared = await csms.csms.send("site1", "ClearDisplayMessage", {"id": 2})
            assert cleared["status"] == "Accepted"

            async def gone() -> bool:
                page = await shown(browser)
                return (
                    texts(mqtt, "connectors/hd1-1/messages") == ["Welcome to site1"]
                    and page["cards"]["hd1:1"] == []
                )

            await eventually(gone, "the cleared message gone from MQTT and the page", 20)
