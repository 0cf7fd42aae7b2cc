"""Report a problem on the site display: in a real browser to the database and MQTT, through
the outbox to the bench CSMS (OCPP 1.6 DataTransfer), and what bad or hostile submissions get.
Real simulator, daemon, Mosquitto and bench CSMS."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest

from tests.e2e.browser import PHONE, chromium
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_ocpp import with_uplink
from tests.e2e.test_views import Csms, Recorded, broker, csms, recording
from tests.e2e.test_web_display import display_url, web_config

__all__ = ["broker", "csms"]  # the fixtures, shared with test_views

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

REFERENCE = re.compile(r'data-reference="(P-\d{6,})"')


def rows(site: E2ESite) -> list[tuple[Any, ...]]:
    return site.query(
        "SELECT number, submission_id, connector_id, kind, text, source, state"
        " FROM problem_reports ORDER BY number"
    )


def published(mqtt: Recorded) -> list[dict[str, Any]]:
    return mqtt.on("problems/events")


async def test_a_driver_reports_a_problem_and_it_is_stored_and_published(
    launch: Launch, config: dict[str, Any], broker: Any
) -> None:
    site = await launch(web_config(config, broker))
    async with recording(broker) as mqtt:
        with chromium("en", PHONE) as browser:
            await browser.open(display_url(config))

            await browser.click('section[data-connector="hd1:1"] a.button')
            await browser.screenshot("report-form-phone-en", PHONE)

            def fill_and_send(d: Any) -> str:
                chosen = d.find_element("css selector", "#connector").get_attribute("value")
                d.find_element("css selector", 'input[value="cable"]').click()
                d.find_element("css selector", "#text").send_keys("The plug\nis cracked")
                d.find_element("css selector", "button[type=submit]").click()
                return str(chosen)

            assert await browser.call(fill_and_send) == "hd1:1"

            async def thanked() -> bool:
                found = await browser.script(
                    "const r = document.querySelector('.reference'); return r && r.textContent"
                )
                return bool(found)

            try:
                await eventually(thanked, "the reference shown", 10)
            except AssertionError:
                print(await browser.call(lambda d: d.page_source))
                raise
            shown = await browser.call(lambda d: d.find_element("css selector", ".reference").text)
            await browser.screenshot("report-thanks-phone-en", PHONE)
    assert re.fullmatch(r"P-\d{6}", shown)
    ((number, _, connector, kind, text, source, state),) = rows(site)
    assert (f"P-{number:06d}", connector, kind, text, source, state) == (
        shown, "hd1:1", "cable", "The plug is cracked", "driver", "open",
    )  # fmt: skip

    async def on_mqtt() -> bool:
        return bool(published(mqtt))

    await eventually(on_mqtt, "the report on MQTT")
    (event,) = published(mqtt)
    assert {k: event[k] for k in ("event", "reference", "connector_id", "kind", "text")} == {
        "event": "reported", "reference": shown, "connector_id": "hd1:1", "kind": "cable",
        "text": "The plug is cracked",
    }  # fmt: skip


async def test_a_report_reaches_the_csms_through_the_outbox(
    launch: Launch, config: dict[str, Any], broker: Any, csms: Csms
) -> None:
    site = await launch(with_uplink(web_config(config, broker), csms.port))
    url = display_url(config, "/display/report")
    form = {"connector": "charx:2", "kind": "card_refused", "text": "", "submission": "c1"}
    async with aiohttp.ClientSession() as http:
        status, body = await _post(http, url, form, Origin=display_url(config, ""))
    assert status == 200
    (reference,) = REFERENCE.findall(body)

    def transfers() -> list[dict[str, Any]]:
        return [p for _, a, p in csms.bench.record.calls if a == "DataTransfer"]

    async def delivered() -> bool:
        return bool(transfers())

    await eventually(delivered, "the report at the CSMS")
    (payload,) = transfers()
    assert (payload["vendorId"], payload["messageId"]) == ("edge_controller", "ProblemReport")
    data = json.loads(payload["data"])
    assert (data["reference"], data["kind"], data["connectorId"]) == (
        reference, "card_refused", 3,  # keba:1, charx:1, charx:2 on the site identity
    )  # fmt: skip

    async def acked() -> bool:
        return site.query("SELECT state FROM outbox WHERE event = 'problem_reported'") == [
            ("acked",)
        ]

    await eventually(acked, "the outbox row acknowledged once")


async def _post(
    http: aiohttp.ClientSession, url: str, data: dict[str, str], **headers: str
) -> tuple[int, str]:
    async with http.post(url, data=data, headers=headers) as response:
        return response.status, await response.text()


async def test_bad_and_hostile_reports_get_the_right_answer_and_nothing_is_stored_twice(
    launch: Launch, config: dict[str, Any], broker: Any
) -> None:
    config = web_config(config, broker)
    config["web"] |= {"reports_per_hour": 20, "requests_per_minute": 100_000}
    site = await launch(config)
    url = display_url(config, "/display/report")
    good = {"connector": "keba:1", "kind": "no_power", "text": "", "submission": "one"}
    async with aiohttp.ClientSession() as http:
        assert (await _post(http, url, good, Origin="http://evil.example"))[0] == 403
        status, body = await _post(http, url, good | {"connector": "nope:1"})
        assert status == 400 and "unknown connector" in body
        status, body = await _post(http, url, good | {"kind": "other", "text": " "})
        assert status == 400 and "say what is wrong" in body
        assert (await _post(http, url, good | {"text": "x" * 20_000}))[0] == 413
        assert rows(site) == []  # none of these was stored

        first = await _post(http, url, good)
        again = await _post(http, url, good)
        assert first[0] == again[0] == 200
        assert REFERENCE.findall(first[1]) == REFERENCE.findall(again[1]) == ["P-000001"]

        async def one(n: int) -> int:
            return (await _post(http, url, good | {"submission": f"flood-{n}"}))[0]

        statuses = [await one(n) for n in range(1000)]
        display = await http.get(display_url(config))
        assert display.status == 200  # the display still answers
    accepted = statuses.count(200)
    # Every post past the origin check counts against the budget: 5 were sent above.
    assert accepted == 20 - 5 and statuses.count(429) == 1000 - accepted
    assert len(rows(site)) == 1 + accepted  # each accepted submission once, nothing twice
    view_before = (await site.status()).at_s
    await asyncio.sleep(1.5)
    assert (await site.status()).at_s > view_before  # the control loop goes on
