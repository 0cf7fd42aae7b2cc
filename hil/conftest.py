"""Fixtures of the device contract suite, and its Markdown report (``--hil-report FILE``)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hil.bench import BENCH_ENV, DeviceUnderTest, bench_site, open_device


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hil-report", default=None, help="write a Markdown report of the run")


@pytest.fixture
async def dut(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeviceUnderTest]:
    """The device under test (the test's ``device_id`` parameter) on the bench."""
    device_id: str = request.param
    async with (
        bench_site(tmp_path) as (bench, sim),
        open_device(bench, device_id, sim) as device,
    ):
        yield device


_RESULTS: list[tuple[str, str, float, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2])
        elif report.failed:
            reason = str(report.longrepr).strip().splitlines()[-1][:200]
        _RESULTS.append((report.nodeid, report.outcome, report.duration, reason))


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--hil-report", default=None)
    if not path:
        return
    bench = os.environ.get(BENCH_ENV) or "the simulator (no bench file)"
    counts = {o: sum(1 for r in _RESULTS if r[1] == o) for o in ("passed", "failed", "skipped")}
    lines = [
        "# Device contract run",
        "",
        f"- bench: {bench}",
        f"- finished: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"- passed {counts['passed']}, failed {counts['failed']}, skipped {counts['skipped']}",
        "",
        "| test | result | s | note |",
        "| --- | --- | --- | --- |",
    ]
    for nodeid, outcome, duration, reason in _RESULTS:
        note = reason.replace("|", "\\|")
        lines.append(f"| `{nodeid.split('::', 1)[-1]}` | {outcome} | {duration:.2f} | {note} |")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
