"""The console's commissioning page on the simulated site: a bus scan and the selftest started
by an operator run through the daemon's own jobs (the ones the status socket runs for the
``scan`` and ``selftest`` commands), show their progress and end with the command's result; a
second start meanwhile is refused, from the console and from the command line alike. The page
is live by server-sent events (in headless Chromium: progress moves without a reload), reloads
itself only without scripts, and lists the last runs with who started them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller import log
from edge_controller.api.client import post_json
from edge_controller.api.jobs import BUSY, CommissioningRuns
from edge_controller.api.server import STATUS_SOCKET, StatusServer
from edge_controller.app.hardware import open_hardware
from edge_controller.app.scan import daemon_scanner
from edge_controller.app.selftest_live import DaemonSide, daemon_selftest
from edge_controller.app.web import web_command
from edge_controller.config.settings import Settings
from edge_controller.domain.snapshot import SiteView
from edge_controller.sim.site import RunningSim
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from tests.e2e.browser import Browser, chromium
from tests.integration.web.test_console_problems import PASSWORDS, web_settings
from tests.integration.web.test_console_sessions import NoCommands, NoReports
from tests.ports import free_port
from tests.unit.web.test_routes import NoSessions, Site

from .test_scan import config, sim  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

PAGE = "/console/commissioning"


class Daemon:
    def __init__(self, client: TestClient[Any, Any], socket: Path, runs: CommissioningRuns):
        self.client, self.socket, self.runs = client, socket, runs

    @property
    def url(self) -> str:
        return str(self.client.make_url(""))

    async def log_in(self, user: str) -> str:
        async with self.client.get("/console/login") as response:
            form = re.search(r'name="csrf" value="([^"]+)"', await response.text())
        assert form is not None
        data = {"user": user, "password": PASSWORDS[user], "csrf": form[1]}
        async with self.client.post("/console/login", data=data) as response:
            assert response.status == 200
        async with self.client.get(PAGE) as response:
            found = re.search(r'name="csrf" value="([^"]+)"', await response.text())
        return found[1] if found else ""

    async def start(self, kind: str, data: dict[str, str]) -> tuple[int, str]:
        url = f"{PAGE}/{kind}"
        async with self.client.post(url, data=data, allow_redirects=False) as response:
            return response.status, await response.text()

    async def state(self) -> dict[str, Any]:
        async with self.client.get(f"{PAGE}/state") as response:
            found: dict[str, Any] = await response.json()
            return found

    async def finished(self) -> dict[str, Any]:
        for _ in range(600):
            state = await self.state()
            if state["finished_s"] is not None:
                return state
            await asyncio.sleep(0.05)
        raise AssertionError("the run did not end")


@pytest.fixture
async def daemon(
    config: dict[str, Any],  # noqa: F811
    sim: RunningSim,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[Daemon]:
    settings = Settings.model_validate(config)
    async with contextlib.AsyncExitStack() as stack:
        hw = await open_hardware(settings, stack)
        runs = CommissioningRuns()
        runs.jobs["scan"] = daemon_scanner(hw.buses, dict(settings.buses), runs.note)
        side = DaemonSide(settings, hw.buses, lambda: False, synchronised=lambda: True)
        runs.jobs["selftest"] = daemon_selftest(side, runs.note)
        socket = settings.storage.state_dir / STATUS_SOCKET
        view = SiteView("scantest", None, 63.0, None, None)
        server = asyncio.create_task(StatusServer(socket, lambda: view, runs=runs).run())
        sources = Sources(
            NoReports(), NoSessions(), {}, NoCommands(), web_command,
            runs=runs, scan_buses=tuple(settings.buses),
        )  # fmt: skip
        app = build_app(web_settings(tmp_path), DisplayHub(Site(), DisplaySetup("s"), 1.0), sources)
        try:
            async with TestClient(TestServer(app, port=free_port())) as client:
                await asyncio.sleep(0.2)  # the socket is listening
                yield Daemon(client, socket, runs)
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)


def found_units(result: dict[str, Any]) -> list[tuple[int, str | None]]:
    return [(d["unit"], d["profile"]) for d in result["devices"]]


async def test_an_operator_scans_with_progress_and_a_second_start_is_refused(
    daemon: Daemon,
) -> None:
    csrf = await daemon.log_in("ops")
    scan = {"csrf": csrf, "bus": "rs485", "units": "1-30", "timeout_s": "0.1"}
    assert (await daemon.start("scan", scan))[0] == 303
    state = await daemon.state()
    assert (state["kind"], state["by"], state["total"]) == ("scan", "ops", 30)
    async with daemon.client.get(PAGE) as response:
        page = await response.text()
    assert 'data-state="running"' in page and 'http-equiv="refresh"' in page
    status, text = await daemon.start("selftest", {"csrf": csrf})
    assert (status, text) == (409, BUSY)  # refused, and the scan goes on
    with pytest.raises(ValueError, match="already running"):
        await post_json(daemon.socket, "/selftest", {}, 10.0)  # the command line too
    progress = [(await daemon.state())["done"]]
    while (state := await daemon.state())["finished_s"] is None:
        progress.append(state["done"])
        await asyncio.sleep(0.1)
    assert progress == sorted(progress) and len(set(progress)) >= 3  # it moved while running
    assert (state["done"], state["found"], state["error"]) == (30, 2, None)
    # The same scan by the command's path gives the same devices.
    command = await post_json(daemon.socket, "/scan", {k: scan[k] for k in ("bus", "units")}
                              | {"timeout_s": 0.1}, 60.0)  # fmt: skip
    assert found_units(state["result"]) == found_units(command) == [
        (1, "heidelberg_energy_control"), (4, "heidelberg_energy_control"),
    ]  # fmt: skip
    async with daemon.client.get(PAGE) as response:
        page = await response.text()
    assert 'data-state="done"' in page and "http-equiv" not in page
    assert "heidelberg_energy_control" in page
    starts = [line for line in log.recent_lines() if line.get("commissioning") == "scan"]
    assert starts[-1]["user"] == "ops" and starts[-1]["event"] == "operator change"


async def test_the_selftest_result_is_the_commands_and_a_viewer_cannot_start(
    daemon: Daemon,
) -> None:
    viewer_csrf = await daemon.log_in("viv")
    assert viewer_csrf == ""  # no start forms for a viewer
    async with daemon.client.get(PAGE) as response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert (await daemon.start("selftest", {"csrf": "x"}))[0] == 403
    assert await daemon.state() is None  # nothing ran
    assert csrf is None
    daemon.client.session.cookie_jar.clear()
    csrf_ops = await daemon.log_in("ops")
    assert (await daemon.start("selftest", {"csrf": "wrong"}))[0] == 403  # CSRF checked
    assert (await daemon.start("selftest", {"csrf": csrf_ops}))[0] == 303
    state = await daemon.finished()
    assert (state["done"], state["total"]) == (7, 7)
    command = await post_json(daemon.socket, "/selftest", {}, 60.0)

    def verdicts(report: dict[str, Any]) -> list[tuple[str, str]]:
        return [(i["name"], i["status"]) for i in report["items"]]

    assert verdicts(state["result"]) == verdicts(command)
    assert state["found"] == len(command["items"])
    assert ("charger hd1:1 answers", "pass") in verdicts(command)


async def next_event(stream: Any) -> dict[str, Any]:
    """The next server-sent event's data (keep-alive comments skipped)."""
    async with asyncio.timeout(30):
        while not (line := await stream.content.readline()).startswith(b"data: "):
            assert line, "the stream ended"
    found: dict[str, Any] = json.loads(line[len(b"data: ") :])
    return found


async def test_the_page_is_live_by_events_and_lists_who_ran_what(daemon: Daemon) -> None:
    csrf = await daemon.log_in("ops")
    async with daemon.client.get(f"{PAGE}/events") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert (await next_event(stream))["state"] == "none"
        scan = {"csrf": csrf, "bus": "rs485", "units": "1-12", "timeout_s": "0.1"}
        assert (await daemon.start("scan", scan))[0] == 303
        shown = [await next_event(stream)]
        while shown[-1]["state"] == "running":
            shown.append(await next_event(stream))
    progress = [re.search(r'id="progress">([^<]*)<', e["run"]) for e in shown]
    texts = [m[1] for m in progress if m is not None]
    assert len(set(texts)) >= 3 and texts[-1] == "12/12 probes, 2 found"  # each change sent
    assert shown[-1]["state"] == "done" and "heidelberg_energy_control" in shown[-1]["run"]
    again = {"bus": "rs485", "units": "1-2", "timeout_s": 0.1}
    await post_json(daemon.socket, "/scan", again, 60.0)  # the command line's run is kept too
    async with daemon.client.get(PAGE) as response:
        page = await response.text()
    rows = re.findall(r'<tr data-state="(\w+)"><td>(\w+)</td><td>([^<]+)</td>', page)
    assert rows == [("done", "scan", "command line"), ("done", "scan", "ops")]
    daemon.client.session.cookie_jar.clear()
    async with daemon.client.get(f"{PAGE}/events") as response:
        assert response.status == 401  # no stream without a login


async def progress_seen(browser: Browser) -> list[str]:
    """``#progress`` each time it changed, until the run is done; the page must stay the one
    loaded (its marker kept: no reload)."""
    seen: list[str] = []
    for _ in range(300):
        shown = await browser.script(
            "var p = document.getElementById('progress');"
            "return [window.loadedOnce === true, document.getElementById('run').dataset.state,"
            " p ? p.textContent : ''];"
        )
        kept, state, progress = shown
        assert kept, "the page was loaded again"
        if progress and (not seen or seen[-1] != progress):
            seen.append(progress)
        if state == "done":
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run did not end on the page; seen {seen}")


async def test_progress_moves_in_the_browser_without_a_reload(daemon: Daemon) -> None:
    with chromium() as browser:
        await browser.open(f"{daemon.url}/console/login")

        await browser.log_in("viv", PASSWORDS["viv"])
        scan = asyncio.create_task(
            post_json(
                daemon.socket, "/scan", {"bus": "rs485", "units": "1-40", "timeout_s": 0.1}, 60.0
            )
        )
        runs = daemon.runs
        while not (runs.running and runs.current is not None and runs.current.done):
            await runs.changed(runs.version, 1.0)  # until it runs and has made progress
        await browser.open(f"{daemon.url}{PAGE}")  # while it runs: with the no-script refresh
        await browser.script("window.loadedOnce = true;")
        seen = await progress_seen(browser)
        await scan
        history = await browser.text("#runs")
    assert len(seen) >= 2 and seen[-1] == "40/40 probes, 2 found"  # it moved on the page
    assert "scan command line" in history
