"""A key code typed on a connector's page of the site display (``POST /display/code``), with
the real web server, the real session side and command port, and the schema-strict CSMS in
2.0.1 or 2.1 mode that refuses every token it is asked about: the CSMS's local list holds the
code as a KeyCode. In headless Chromium the driver types the code into the "Enter code" form
and the session starts on that connector, sent as a KeyCode; wrong codes are asked about as
KeyCodes and refused, and after five a connector takes none, not even the right one, while
another connector still does. No code is ever logged in clear."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.web import web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.sessions.state import Phase
from edge_controller.domain.snapshot import SiteView
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.display_code import WRONG_CODES
from tests.e2e.browser import chromium
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    auth_store,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.sessions_site import CONNECTORS, LiveSite, live_site
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.ports import free_port
from tests.unit.web.test_routes import NoReports, NoSessions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
CODE = "4711"
CODE_ENTRY = {
    "idToken": {"idToken": CODE, "type": "KeyCode"},
    "idTokenInfo": {"status": "Accepted"},
}


class Views:
    """The display's source: the session side's joined connector views."""

    def __init__(self, site: LiveSite) -> None:
        self._site = site

    def current(self) -> SiteView:
        return SiteView("site1", None, 32.0, None, None, tuple(self._site.connectors()))

    async def next_view(self) -> SiteView:
        await asyncio.sleep(0.5)
        return self.current()


@asynccontextmanager
async def code_site(
    tmp_path: Path, protocol: str, version: str
) -> AsyncIterator[tuple[LiveSite, StrictPeer, TestClient[Any, Any]]]:
    csms = CsmsAuthorization()
    async with (
        strict_peer(auth_status="Invalid", protocols=protocol) as peer,
        live_site(tmp_path, csms=csms) as (site, outbox),
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(
            settings, cast(FakeSite, site), outbox, tmp_path, {"c1": len(CONNECTORS)},
            auth_lists=auth_store(outbox), authorization=csms,
        ) as uplink:  # fmt: skip
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            listed = {
                "versionNumber": 2,
                "updateType": "Full",
                "localAuthorizationList": [CODE_ENTRY],
            }
            await peer.send(IDENTITY, "SendLocalList", listed)
            await wait_for(lambda: len(peer.answers("SendLocalList")) == 1)
            hub = DisplayHub(Views(site), DisplaySetup("site1", CONNECTORS), 1.0)
            sources = Sources(NoReports(), NoSessions(), {}, site.commands, web_command)
            server = TestServer(build_app(WebSettings(), hub, sources), port=free_port())
            async with TestClient(server) as client:
                yield site, peer, client
            uplink.notify_outbox()


def _asked(peer: StrictPeer) -> list[dict[str, str]]:
    return [c["params"]["idToken"] for c in peer.calls("Authorize")]


async def test_a_driver_types_the_code_in_the_browser_and_the_session_starts_there(
    tmp_path: Path,
) -> None:
    async with code_site(tmp_path, "ocpp2.0.1", "2.0.1") as (site, peer, client):
        await site.plug("c1:2")
        base = str(client.make_url("/")).rstrip("/")
        with chromium() as browser:
            await browser.open(f"{base}/display/c1:1?lang=en")
            assert await browser.script("return document.querySelectorAll('form.code').length") == 1
            await browser.open(f"{base}/display/c1:2?lang=en")
            await browser.script(
                "document.querySelector('form.code input[name=code]').value = arguments[0];", CODE
            )
            await browser.click("form.code button")
            await browser.wait_for_text("Code accepted. Charging starts at c1:2.")
        assert site.manager.phase("c1:2") is Phase.ACTIVE
        assert site.manager.phase("c1:1") is Phase.IDLE
        await wait_for(lambda: len(peer.calls("TransactionEvent")) >= 1)
    started = peer.calls("TransactionEvent")[0]["params"]
    assert started["eventType"] == "Started" and started["evse"]["id"] == 2
    assert started["idToken"] == {"idToken": CODE, "type": "KeyCode"}
    assert _asked(peer) == []  # the local list's KeyCode entry answered
    assert peer.invalid() == []


async def _type(client: TestClient[Any, Any], connector: str, code: str) -> tuple[int, str]:
    form = {"connector": connector, "code": code}
    async with client.post("/display/code?lang=en", data=form) as response:
        return response.status, await response.text()


async def test_wrong_codes_lock_the_connector_out_and_no_code_is_logged(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = [f"ZW99{n:02d}" for n in range(WRONG_CODES)]
    async with code_site(tmp_path, "ocpp2.1", "2.1") as (site, peer, client):
        await site.plug("c1:1")
        await site.plug("c1:2")
        for code in wrong:
            status, page = await _type(client, "c1:1", code)
            assert status == 403 and "This code was not accepted here." in page
        status, page = await _type(client, "c1:1", CODE)  # right, but too late
        assert status == 429 and "Too many wrong codes" in page
        assert site.manager.phase("c1:1") is Phase.WAIT_AUTH
        status, page = await _type(client, "c1:2", CODE)  # another connector takes it
        assert status == 200 and "Charging starts at c1:2" in page
        assert (await _type(client, "c1:2", " "))[0] == 400
        assert (await _type(client, "c9:9", CODE))[0] == 404
    assert _asked(peer) == [{"idToken": c, "type": "KeyCode"} for c in wrong]
    assert peer.invalid() == []
    logged = capfd.readouterr()
    for code in (*wrong, CODE):
        assert code not in logged.out and code not in logged.err
