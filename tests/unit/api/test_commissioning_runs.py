"""One scan or selftest at a time, whoever starts it: a start while one runs is refused at
once (before anything awaits), and a run's result or error stays for the console to show."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge_controller.api.jobs import BUSY, Busy, CommissioningRuns


async def test_a_second_start_is_refused_until_the_first_ends_and_errors_are_kept() -> None:
    release = asyncio.Event()
    runs = CommissioningRuns(clock=iter(range(100)).__next__)

    async def scan(data: dict[str, Any]) -> dict[str, Any]:
        runs.note(1, 3, 1)
        await release.wait()
        return {"devices": [data["bus"]]}

    async def selftest(_data: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("selftest takes no options, not write")

    runs.jobs |= {"scan": scan, "selftest": selftest}
    run = runs.begin("scan", "ops")
    task = asyncio.create_task(runs.finish(run, {"bus": "rs485"}))
    with pytest.raises(Busy, match=BUSY):
        runs.begin("selftest", "command line")
    await asyncio.sleep(0)
    assert (run.done, run.total, run.found, run.finished_s) == (1, 3, 1, None)
    release.set()
    assert await task == {"devices": ["rs485"]}
    assert (runs.current, run.started_s, run.finished_s) == (run, 0, 1)
    failing = runs.begin("selftest", "ops")
    with pytest.raises(ValueError, match="no options"):
        await runs.finish(failing, {"write": True})
    assert failing.error == "selftest takes no options, not write" and not runs.running
    runs.note(5, 5, 5)  # nothing runs: nothing changes
    assert failing.done == 0
    with pytest.raises(ValueError, match="no reboot here"):
        runs.begin("reboot", "ops")
