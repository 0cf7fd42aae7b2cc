"""The console's system page shows each device's last error events, newest first (a real
aiohttp server and a real Modbus TCP peer made to fail in different ways): every event the bus
counted, with its kind and message, and no more than it counted."""

from __future__ import annotations

import re
from collections import Counter
from html import unescape
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.web import device_errors, web_command
from edge_controller.ports import DeviceError
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from tests.integration.modbus.test_tcp_faults import Peer, open_meter
from tests.integration.web.test_console_sessions import NoCommands, NoReports, log_in, web_settings
from tests.unit.web.test_routes import NoSessions, Site

pytestmark = pytest.mark.integration


def error_rows(html: str, device_id: str) -> list[tuple[str, str, str]]:
    table = re.search(rf'<table data-errors="{device_id}">.*?<tbody>(.*?)</tbody>', html)
    assert table is not None, device_id
    cells = r'<td data-col="at">(.*?)</td><td data-col="kind">(.*?)</td><td data-col="message">'
    rows = re.findall(cells + r"(.*?)</td>", table[1])
    return [(at, unescape(kind), unescape(message)) for at, kind, message in rows]


async def test_the_error_history_is_what_the_bus_counted_newest_first(
    peer: Peer, tmp_path: Path
) -> None:
    bus, grid = await open_meter(peer.port, retries=0)
    sources = Sources(
        NoReports(), NoSessions(), {}, NoCommands(), web_command,
        device_errors=device_errors({"lan": bus}),
    )  # fmt: skip
    hub = DisplayHub(Site(), DisplaySetup("s"), 1.0)
    app = build_app(web_settings(tmp_path), hub, sources)
    async with bus, TestClient(TestServer(app)) as client:
        await grid.read()
        for mode in ("exception:2", "silent", "exception:4", "exception:2"):
            peer.mode = mode
            with pytest.raises(DeviceError):
                await grid.read()
        await log_in(client)
        async with client.get("/console/system") as response:
            assert response.status == 200
            html = await response.text()
        (view,) = bus.views()
    rows = error_rows(html, "grid")
    assert Counter(kind for _, kind, _ in rows) == view.errors  # every counted error, once
    assert len(rows) == sum(view.errors.values()) == 4
    kinds = [kind for _, kind, _ in rows]
    assert kinds == ["exception_02", "exception_04", "timeout", "exception_02"]  # newest first
    assert [message for _, _, message in rows] == [
        "grid: Modbus exception 02 (illegal data address) to read input 0-75",
        "grid: Modbus exception 04 (server device failure) to read input 0-75",
        "grid: no answer (timeout)",
        "grid: Modbus exception 02 (illegal data address) to read input 0-75",
    ]
    assert [at for at, _, _ in rows] == sorted((at for at, _, _ in rows), reverse=True)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", at) for at, _, _ in rows)
