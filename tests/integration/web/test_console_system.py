"""The console's system page (a real aiohttp server): each device's health as the status view
has it, the check-config result of the running config line for line as the command prints it
for the same file, and the daemon's last log lines as written (redacted); login needed."""

from __future__ import annotations

import re
import time
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller import cli, log
from edge_controller.app.config_report import check_lines
from edge_controller.app.web import web_command
from edge_controller.config.load import load_settings
from edge_controller.domain.snapshot import DeviceView, GatewayFault, SiteView
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from tests.integration.web.test_console_sessions import (
    NoCommands,
    NoReports,
    log_in,
    web_settings,
)
from tests.unit.web.test_routes import NoSessions

pytestmark = pytest.mark.integration

DEVICES = (
    DeviceView("grid", True, 1200, {"timeout": 3, "crc": 1}, 4.25, 31.0, 1_772_434_800.0),
    DeviceView("hd1", False, 40, {"timeout": 40}, None, None, None, "no answer for 65 s"),
)
CONFIG = (
    "site:\n  id: s1\n  grid_limit_a: 50\n  assumed_building_load_a: 50\n"
    "buses: {lan: {type: tcp, host: 127.0.0.1}}\n"
    "chargers: {wb1: {bus: lan, unit_id: 1, profile: keba_kecontact_p30}}\n"
)


class Site:
    def __init__(self) -> None:
        self.view = SiteView("s1", None, 50.0, None, None, devices=DEVICES)

    def current(self) -> SiteView:
        return self.view

    async def next_view(self) -> SiteView:
        return self.view


def cells(html: str, row: str) -> dict[str, str]:
    found = re.search(rf"<tr {row}>(.*?)</tr>", html)
    assert found is not None, row
    return {k: unescape(v) for k, v in re.findall(r'<td data-col="(\w+)">(.*?)</td>', found[1])}


async def test_devices_check_config_and_log_lines_are_what_their_sources_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG)
    assert cli.main(["check-config", str(config)]) == 0
    printed = capsys.readouterr().out.splitlines()[1:]  # below "<file>: OK"
    sources = Sources(
        NoReports(), NoSessions(), {}, NoCommands(), web_command,
        checks=tuple(check_lines(load_settings(config))),
    )  # fmt: skip
    hub = DisplayHub(Site(), DisplaySetup("s1"), 1.0)
    app = build_app(web_settings(tmp_path), hub, sources)
    marker = f"system page check {time.monotonic_ns()}"
    log.redactor.set_secrets(["hunter2-secret"])
    try:
        log.get_logger("test").warning(marker, device="hd1", detail={"password": "x", "n": 2},
                                       note="key hunter2-secret")  # fmt: skip
    finally:
        log.redactor.set_secrets(())
    async with TestClient(TestServer(app)) as client:
        async with client.get("/console/system", allow_redirects=False) as response:
            assert response.status == 303  # no login
        await log_in(client)
        async with client.get("/console/system") as response:
            assert response.status == 200
            html = await response.text()
    grid, hd1 = cells(html, 'data-device="grid"'), cells(html, 'data-device="hd1"')
    assert grid == {
        "device": "grid", "available": "yes", "requests": "1200", "errors": "crc 1, timeout 3",
        "p50_ms": "4.2", "p99_ms": "31.0", "last_answer": "2026-03-02 07:00:00", "fault": "-",
    }  # fmt: skip
    assert (hd1["available"], hd1["errors"], hd1["fault"]) == ("no", "timeout 40",
                                                               "no answer for 65 s")  # fmt: skip
    check = re.search(r'<pre id="check-config">(.*?)</pre>', html, re.S)
    assert check is not None
    shown = unescape(check[1]).splitlines()
    assert [line.strip() for line in printed if "warning:" not in line] == [
        line for line in shown if not line.startswith("warning:")
    ]
    assert any("warning: site.assumed_building_load_a (line 4): 50 A" in p for p in printed)
    assert any(s.startswith("warning: site.assumed_building_load_a (no line): 50 A") for s in shown)
    row = re.search(rf'<tr data-level="warning"><td>[^<]+</td><td>warning</td><td>test</td>'
                    rf"<td>{marker}</td><td>(.*?)</td></tr>", html)  # fmt: skip
    assert row is not None
    details = unescape(row[1])
    assert details == 'device=hd1 detail={"password": "***", "n": 2} note=key ***'
    assert "hunter2" not in html


async def test_gateway_faults_are_shown_above_the_devices(tmp_path: Path) -> None:
    site = Site()
    text = "child hall-a falls back to 80 A, above the 32 A configured for it: <fix it>"
    site.view = SiteView("s1", None, 50.0, None, None, gateway_faults=(GatewayFault("k", text),))
    sources = Sources(NoReports(), NoSessions(), {}, NoCommands(), web_command)
    app = build_app(web_settings(tmp_path), DisplayHub(site, DisplaySetup("s1"), 1.0), sources)
    async with TestClient(TestServer(app)) as client:
        await log_in(client)
        async with client.get("/console/system") as response:
            html = await response.text()
    shown = re.search(r'<ul id="gateway-faults"><li>(.*?)</li></ul>', html)
    assert shown is not None and unescape(shown[1]) == text
    site.view = SiteView("s1", None, 50.0, None, None)
    async with TestClient(TestServer(app)) as client:
        await log_in(client)
        async with client.get("/console/system") as response:
            assert "gateway-faults" not in await response.text()


def test_the_last_lines_are_kept_newest_last_and_bounded() -> None:
    logger: Any = log.get_logger("test")
    for n in range(log.RECENT_LINES + 5):
        logger.info("line", n=n)
    kept = log.recent_lines()
    assert len(kept) == log.RECENT_LINES
    assert [k["n"] for k in kept[-3:]] == [log.RECENT_LINES + 2, log.RECENT_LINES + 3,
                                          log.RECENT_LINES + 4]  # fmt: skip
    assert log.recent_lines(2) == kept[-2:] and log.recent_lines(0) == []
