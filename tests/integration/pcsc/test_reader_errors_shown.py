"""A card reader's error events (a card it could not read, pcscd gone) are kept by the driver and
shown, newest first, on the console's system page and in the REST API's devices resource with
the same time, kind and message: the machine's real pcscd with the vpcd virtual reader, a real
aiohttp server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.web import device_errors, web_command
from edge_controller.domain.snapshot import SiteView
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.drivers.pcsc.reader import PcscTokenReader
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.openapi import document
from tests.integration.pcsc.helpers import collecting, wait_until
from tests.integration.pcsc.pcscd import Pcscd
from tests.integration.pcsc.vcard import UidReply, VirtualCard
from tests.integration.web.test_console_errors import error_rows
from tests.integration.web.test_console_sessions import (
    TOKEN,
    NoCommands,
    NoReports,
    log_in,
    web_settings,
)
from tests.openapi_check import check_answer
from tests.ports import free_port
from tests.unit.web.test_routes import NoSessions

pytestmark = pytest.mark.integration
SLOT0 = "Virtual PCD 00 00"


class ReaderSite:
    """The live view of a site whose only devices are the readers of ``reader``."""

    def __init__(self, reader: PcscTokenReader) -> None:
        self._reader = reader

    def current(self) -> SiteView:
        return SiteView("s", None, 63.0, None, None, devices=self._reader.devices())

    async def next_view(self) -> SiteView:
        return self.current()


async def shown(reader: PcscTokenReader, tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    """The system page and the devices resource, as served."""
    sources = Sources(
        NoReports(), NoSessions(), {}, NoCommands(), web_command,
        device_errors=device_errors({}, reader.error_histories),
    )  # fmt: skip
    app = build_app(
        web_settings(tmp_path), DisplayHub(ReaderSite(reader), DisplaySetup("s"), 1.0), sources
    )
    async with TestClient(TestServer(app, port=free_port())) as client:
        await log_in(client)
        async with client.get("/console/system") as response:
            assert response.status == 200
            html = await response.text()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with client.get("/api/v1/devices", headers=headers) as response:
            assert response.status == 200
            devices = await response.json()
    check_answer(document(), "get", "/devices", 200, devices)
    return html, devices


async def test_a_readers_errors_are_on_the_page_and_in_the_api_alike(
    running_pcscd: Pcscd, tmp_path: Path
) -> None:
    before_s = time.time()
    async with collecting([ReaderConfig("r1", SLOT0)]) as taps:
        with VirtualCard(
            running_pcscd.slot_ports[0], bytes.fromhex("04A1B2C3"), reply=UidReply.UNSUPPORTED
        ):
            await wait_until(lambda: "uid_unsupported" in taps.errors("r1"), "read failure")
        running_pcscd.stop()
        await wait_until(lambda: "pcscd_unreachable" in taps.errors("r1"), "pcscd gone")
        running_pcscd.start()
        await wait_until(lambda: all(taps.available().values()), "reader back")
        html, devices = await shown(taps.reader, tmp_path)
        (view,) = taps.reader.devices()
    (device,) = devices
    events = device["error_history"]
    assert [e["kind"] for e in events] == ["pcscd_unreachable", "uid_unsupported"]  # newest first
    assert {e["kind"]: 1 for e in events} == view.errors == device["errors"]
    assert events[1]["message"] == "card read failed: uid_unsupported: GET UID answered 6A81"
    assert events[0]["message"].startswith("pcscd unreachable: ")
    assert before_s <= events[1]["at_s"] <= events[0]["at_s"] <= time.time()
    page = [
        (
            datetime.fromtimestamp(e["at_s"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
            e["kind"],
            e["message"],
        )
        for e in events
    ]
    assert error_rows(html, "r1") == page
