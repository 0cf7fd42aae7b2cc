"""What an operator sees of a parent's children on MQTT and in the console equals what
`status --json` says at the same moment: three gateways (tests/e2e/gateways.py), the parent
with its web console, a real Mosquitto and headless Chromium. A child's retained state left by a
child no longer configured is cleared when the parent connects."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge_controller.api.codec import site_to_json
from tests.e2e.browser import Browser, chromium
from tests.e2e.gateways import (
    SHARE_SLACK_A,
    SHARED,
    Gateways,
    three_gateways,
)
from tests.e2e.launch import eventually
from tests.e2e.test_web_console import PASSWORDS, console_config
from tests.integration.mqtt.broker import USERS, Mosquitto

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

CHILDREN_TOPIC = "edge/depot/children/+/state"
GONE_TOPIC = "edge/depot/children/hall-old/state"  # a child of an earlier config
SAME_MOMENT_S = 60.0  # to catch a message and the status of the same snapshot


def _client(broker: Mosquitto, name: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="edge",
        password=USERS["edge"],
        identifier=name,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=5.0,
    )


async def _status_children(gateways: Gateways) -> tuple[float, dict[str, dict[str, Any]]]:
    """The parent's children as `status --json` prints them, and the view's time."""
    shown = site_to_json(await gateways.status("depot"))
    return shown["at_s"], {c["child_id"]: c for c in shown["gateway_children"]}


Children = dict[str, dict[str, Any]]
SAME_DECISION_S = 0.1  # a status this soon after a message may be of the same decision


async def _mqtt_equals_status(gateways: Gateways, broker: Mosquitto) -> dict[str, Any]:
    """Each child's MQTT state equals what the status says of it at the same decision of the
    parent, its time aside. The parent's views come at least every 0.5 s, at times two a few
    milliseconds apart, and the statuses are taken as often as they answer: a message is
    checked against the status of its own view, or of a view up to ``SAME_DECISION_S`` after
    it that shows the same report age (which moves at every decision); any other message is
    passed over. Returns the messages checked, the latest of each child."""
    polled: list[tuple[float, Children]] = []

    async def poll() -> None:
        while True:
            at_s, children = await _status_children(gateways)
            if not polled or round(at_s, 3) > polled[-1][0]:
                polled.append((round(at_s, 3), children))
            await asyncio.sleep(0.02)

    async def status_after(at_s: float) -> tuple[float, Children]:
        while not polled or polled[-1][0] < at_s:  # noqa: ASYNC110 - the poller's
            await asyncio.sleep(0.02)
        return next((t, c) for t, c in polled if t >= at_s)

    checked: dict[str, dict[str, Any]] = {}
    passed_over: list[float] = []
    async with asyncio.TaskGroup() as group:
        poller = group.create_task(poll())
        try:
            async with _client(broker, "e2e-children-watch") as client:
                await client.subscribe(CHILDREN_TOPIC, qos=1)
                async with asyncio.timeout(SAME_MOMENT_S):
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        body = json.loads(message.payload)
                        shown = {k: v for k, v in body.items() if k != "at_s"}
                        at_s, children = await status_after(body["at_s"])
                        status = children[body["child_id"]]
                        same = at_s == body["at_s"] or (
                            at_s - body["at_s"] <= SAME_DECISION_S
                            and status["report_age_s"] == body["report_age_s"]
                        )
                        if message.retain or not same:
                            passed_over.append(body["at_s"])
                            continue
                        assert shown == status, (body, at_s, children)
                        checked[body["child_id"]] = body
                        if len(checked) == len(children):
                            break
        except TimeoutError:
            times = [t for t, _ in polled[-8:]]
            raise AssertionError(f"checked {checked}, not {passed_over}; polled {times}") from None
        finally:
            poller.cancel()
    return checked


def _cells(child: dict[str, Any]) -> list[str]:
    """A child's row as the console should show it, from `status --json`."""

    def phases(values: list[float] | None) -> str:
        return "-" if values is None else " / ".join(f"{a:.1f}" for a in values)

    age = child["report_age_s"]
    return [
        child["child_id"],
        "none yet" if age is None else f"{age:.1f} s",
        phases(child["budget_a"]),
        phases(child["counted_a"]),
        "lost" if child["lost"] else "reporting",
    ]


ROWS = """return [document.getElementById("site").dataset.at,
  Array.from(document.querySelectorAll("#children tbody tr")).map(
    r => Array.from(r.cells).map(c => c.textContent)),
  document.getElementById("children").hidden]"""


async def _console_equals_status(gateways: Gateways, browser: Browser) -> list[list[str]]:
    """The console's children table, caught at the same snapshot as a status: equal."""
    tries: list[tuple[str, float]] = []

    async def same() -> bool:
        at, rows, hidden = await browser.script(ROWS)
        at_s, children = await _status_children(gateways)
        tries.append((at, at_s))
        if float(at) != at_s or (await browser.script(ROWS))[0] != at:
            return False
        assert not hidden
        assert rows == [_cells(children[c]) for c in sorted(children)], (rows, children)
        return True

    try:
        await eventually(same, "the console at a status's snapshot", SAME_MOMENT_S)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; tries {tries[-10:]}") from None
    rows: list[list[str]] = (await browser.script(ROWS))[1]
    return rows


async def _retained_children(broker: Mosquitto) -> dict[str, bytes]:
    """The children's retained states as a new subscriber gets them."""
    found: dict[str, bytes] = {}
    async with _client(broker, "e2e-children-retained") as client:
        await client.subscribe(CHILDREN_TOPIC, qos=1)
        await client.subscribe("edge/depot/status", qos=1)  # retained too: ends the replay
        async with asyncio.timeout(10.0):
            async for message in client.messages:
                if str(message.topic) == "edge/depot/status":
                    return found
                assert isinstance(message.payload, bytes)
                found[str(message.topic)] = message.payload
    return found


async def test_mqtt_and_the_console_show_the_children_as_status_does(tmp_path: Path) -> None:
    web = console_config({}, tmp_path)["web"]
    async with three_gateways(tmp_path, parent_web=web) as (gateways, broker):
        # An earlier run of the parent, with its client id (no client id configured).
        async with _client(broker, "edge-controller-depot") as earlier:
            await earlier.publish(GONE_TOPIC, b'{"child_id":"hall-old"}', qos=1, retain=True)
        await gateways.start()
        await gateways.watched(_children_shown(gateways, broker, web))
    gateways.watch.check()


async def _children_shown(gateways: Gateways, broker: Mosquitto, web: dict[str, Any]) -> None:
    async def cleared() -> bool:
        return GONE_TOPIC not in await _retained_children(broker)

    await eventually(cleared, "the retained state of a child no longer configured cleared", 20)
    await gateways.plug("hall-a")
    await gateways.plug("hall-b")
    await gateways.reach(SHARED, "both children share the grid", below_a=SHARE_SLACK_A)
    shared = await _mqtt_equals_status(gateways, broker)
    assert all(not c["lost"] and c["budget_a"] is not None for c in shared.values()), shared
    assert set(await _retained_children(broker)) == {
        f"edge/depot/children/{c}/state" for c in ("hall-a", "hall-b")
    }
    with chromium() as browser:
        await browser.open(f"http://127.0.0.1:{web['port']}/console/login")
        await browser.log_in("ops", PASSWORDS["ops"])
        rows = await _console_equals_status(gateways, browser)
        assert [r[4] for r in rows] == ["reporting", "reporting"], rows
        assert gateways.relay is not None
        await gateways.relay.cut()  # hall-b silent: lost, its budget's lease over

        async def hall_b_lost() -> bool:
            _, children = await _status_children(gateways)
            return children["hall-b"]["lost"] and children["hall-b"]["budget_a"] is None

        await eventually(hall_b_lost, "hall-b lost, no budget in force, in the status", 30)
        lost = await _mqtt_equals_status(gateways, broker)
        assert lost["hall-b"]["lost"] and not lost["hall-a"]["lost"], lost
        rows = await _console_equals_status(gateways, browser)
        assert [r[4] for r in rows] == ["reporting", "lost"], rows
        await gateways.relay.start()
