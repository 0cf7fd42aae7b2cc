"""Paying at a shared terminal from the display (a real aiohttp server; the command port is a
recording one that holds the answer until the test lets the card holder finish, in place of the
payment flow and its terminal, which the e2e test drives): the press is answered at once with
the payment's page, which says to present the card at that terminal now for that connector and
reloads itself; then it says how the payment ended. The terminal's own press arms it only for
the only EV waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.web import web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.commands import Command, CommandResult, Origin, PayAtTerminal
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.display_pay import RELOAD_S
from tests.unit.web.test_routes import NoReports, NoSessions

pytestmark = pytest.mark.integration

SHARED = ("hd1:1", "keba:1")


class Site:
    def __init__(self) -> None:
        self.view = SiteView("s1", None, 50.0, None, None, connectors=(
            ConnectorView("hd1:1", Availability.PREPARING, 0.0, "waiting for authorisation"),
            ConnectorView("keba:1", Availability.AVAILABLE, 0.0, "idle"),
        ))  # fmt: skip

    def current(self) -> SiteView:
        return self.view

    async def next_view(self) -> SiteView:
        await asyncio.sleep(3600)
        return self.view


class CardHolder:
    """The command port: records each command and answers when the card holder is done."""

    def __init__(self) -> None:
        self.sent: list[Command] = []
        self.done = asyncio.Event()
        self.answer = CommandResult(True, None, "hd1:1")

    async def decide(self, command: Command) -> CommandResult:
        self.sent.append(command)
        await self.done.wait()
        return self.answer


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], CardHolder]]:
    holder = CardHolder()
    hub = DisplayHub(Site(), DisplaySetup("s1", SHARED, terminals={"entrance": SHARED}), 1.0)
    sources = Sources(NoReports(), NoSessions(), {}, holder, web_command)
    async with TestClient(TestServer(build_app(WebSettings(), hub, sources))) as client:
        yield client, holder


async def press(client: TestClient[Any, Any], **form: str) -> str:
    """The pay button; the payment page's address it answers with."""
    async with client.post("/display/pay?lang=en", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        return response.headers["Location"]


async def shown(client: TestClient[Any, Any], where: str) -> tuple[int, str]:
    async with client.get(where) as response:
        return response.status, await response.text()


async def test_the_press_says_present_your_card_now_then_how_the_payment_ended(
    served: tuple[TestClient[Any, Any], CardHolder],
) -> None:
    client, holder = served
    where = await press(client, terminal="entrance")  # the only EV waiting is at hd1:1
    assert where.startswith("/display/pay/") and where.endswith("?lang=en")
    status, page = await shown(client, where)
    assert status == 200
    assert "Present your card at terminal “entrance” now: it pays for charging at hd1:1." in page
    assert f'<meta http-equiv="refresh" content="{RELOAD_S}">' in page
    assert holder.sent == [PayAtTerminal("hd1:1", Origin.WEB)]
    status, page = await shown(client, where.replace("lang=en", "lang=de"))
    assert "Halten Sie Ihre Karte jetzt an das Terminal „entrance“" in page
    holder.done.set()
    await asyncio.sleep(0)  # the answer reaches the page's task
    for _ in range(50):
        status, page = await shown(client, where)
        if "refresh" not in page:
            break
        await asyncio.sleep(0.02)
    assert status == 200 and "Paid. Charging starts at hd1:1." in page
    assert "http-equiv" not in page  # the end: no more reloads
    status, page = await shown(client, "/display/pay/not-a-payment")
    assert status == 404 and "not known" in page


async def test_a_refused_payment_says_why_and_an_unarmed_terminal_sends_nothing(
    served: tuple[TestClient[Any, Any], CardHolder],
) -> None:
    client, holder = served
    holder.answer = CommandResult.failure("hd1:1: payment not approved (declined)")
    holder.done.set()
    where = await press(client, connector="hd1:1")
    for _ in range(50):
        status, page = await shown(client, where)
        if status != 200:
            break
        await asyncio.sleep(0.02)
    assert status == 409 and "payment not approved (declined)" in page
    async with client.post("/display/pay?lang=en", data={"terminal": "nowhere"}) as response:
        assert response.status == 404
    assert holder.sent == [PayAtTerminal("hd1:1", Origin.WEB)]
