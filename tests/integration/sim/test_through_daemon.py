"""`selftest` and `scan` while the daemon runs: the daemon's status socket takes them and runs
them on its own open buses (the simulator's devices), between its own reads. Only reads: the
items that write are skipped and named, and the simulated devices see no write."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge_controller.api.client import fetch_json, post_json
from edge_controller.api.server import STATUS_SOCKET, StatusServer
from edge_controller.app.hardware import Hardware, open_hardware
from edge_controller.app.scan import daemon_scanner
from edge_controller.app.selftest_live import NEEDS_STOPPED, DaemonSide, daemon_selftest
from edge_controller.config.settings import Settings
from edge_controller.domain.snapshot import SiteView
from edge_controller.sim.site import RunningSim

from .test_scan import config, config_file, sim, write_counts  # noqa: F401 (fixtures)
from .test_selftest import run_cli

pytestmark = pytest.mark.integration


class Daemon:
    """The daemon's side of the socket on the simulated site: its buses, its status server
    and a poll of its own on the line (as its pollers do)."""

    def __init__(self, settings: Settings, hw: Hardware) -> None:
        self.socket = settings.storage.state_dir / STATUS_SOCKET
        side = DaemonSide(settings, hw.buses, lambda: False, synchronised=lambda: True)
        self.server = StatusServer(
            self.socket,
            lambda: SiteView("scantest", None, 63.0, None, None),
            daemon_scanner(hw.buses, dict(settings.buses)),
            daemon_selftest(side),
        )
        self.hw = hw
        self.reads = 0

    async def poll(self) -> None:
        while True:
            await self.hw.chargers["hd1:1"].read_status()
            self.reads += 1
            await asyncio.sleep(0.05)


@pytest.fixture
async def daemon(config: dict[str, Any], sim: RunningSim) -> AsyncIterator[Daemon]:  # noqa: F811
    settings = Settings.model_validate(config)
    async with contextlib.AsyncExitStack() as stack:
        running = Daemon(settings, await open_hardware(settings, stack))
        tasks = [asyncio.create_task(running.server.run()), asyncio.create_task(running.poll())]
        await asyncio.sleep(0.5)
        try:
            yield running
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def items_by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in report["items"]}


async def test_selftest_runs_the_read_only_items_through_the_daemon(
    daemon: Daemon,
    sim: RunningSim,  # noqa: F811
    config_file: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    written, before = write_counts(sim), daemon.reads
    report_path = tmp_path / "report.html"
    code, out, err = await run_cli(config_file, "--json", "--report", str(report_path))
    during = daemon.reads - before
    assert "the read-only items run through it" in err
    items = items_by_name(json.loads(out))
    # The devices at the bus's baud answer; the two meters listening at 9600 do not.
    for name in ("charger hd1:1 answers", "charger hd2:1 answers", "charger keba:1 answers"):
        assert items[name]["status"] == "pass", items[name]
    grid = items["meter grid answers with plausible values"]
    assert (grid["status"], grid["section"]) == ("fail", "Bus timeouts")
    lanmeter = items["meter lanmeter answers with plausible values"]
    assert lanmeter["status"] == "pass" and " V" in lanmeter["seen"]
    assert code == 1  # a failed item fails the run, whoever ran it
    # Every item that writes is there, skipped, saying why.
    writes = [
        "charger hd1:1 takes a setpoint and reads it back",
        "charger charx:2 takes a setpoint and reads it back",
        "charger keba watchdog programmed as configured",
        "grid meter phases",
    ]
    for name in writes:
        assert items[name]["status"] == "skip" and NEEDS_STOPPED in items[name]["seen"], name
    assert items["disk has room"]["status"] == "pass"
    assert items["clock synchronised"]["status"] == "pass"
    assert write_counts(sim) == written  # nothing written to any device
    assert during >= 3  # the daemon's own reads went on meanwhile
    # The HTML report shows what the JSON says.
    saved = json.loads(report_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert saved["items"] == json.loads(out)["items"]
    assert "FAILED" in report_path.read_text(encoding="utf-8")


async def test_one_job_at_a_time_and_bounded_requests(daemon: Daemon) -> None:
    body = {"bus": "rs485", "units": "20-60", "timeout_s": 0.1}  # 41 silent units: ~4 s
    scanning = asyncio.create_task(post_json(daemon.socket, "/scan", body, 60.0))
    await asyncio.sleep(0.5)
    assert not scanning.done()
    with pytest.raises(ValueError, match="already running"):
        await post_json(daemon.socket, "/selftest", {}, 10.0)
    with pytest.raises(ValueError, match="request body over 4096 bytes"):
        await post_json(daemon.socket, "/scan", {"bus": "rs485", "pad": "x" * 100_000}, 10.0)
    assert (await scanning)["probes"] == 41
    with pytest.raises(ValueError, match="selftest takes no options"):
        await post_json(daemon.socket, "/selftest", {"write": True}, 10.0)
    assert (await fetch_json(daemon.socket, "/status"))["site_id"] == "scantest"


async def test_a_daemon_that_listens_but_does_not_answer_keeps_its_buses(
    config_file: Path,  # noqa: F811
    config: dict[str, Any],  # noqa: F811
) -> None:
    """A busy or stuck daemon still owns the line: the selftest does not open it itself."""
    socket_path = Settings.model_validate(config).storage.state_dir / STATUS_SOCKET
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    hung = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hung.wait()
        writer.close()

    server = await asyncio.start_unix_server(never_answer, path=str(socket_path))
    try:
        code, out, err = await run_cli(config_file, "--json")
    finally:
        hung.set()
        server.close()
    assert code == 1
    assert "listens but does not answer" in err
    assert out == ""  # no report: nothing of the site was touched
