"""One scan or selftest at a time, whoever starts it: a start while one runs is refused at
once (before anything awaits), and a run's result or error stays for the console to show."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge_controller.api.jobs import BUSY, RUNS_KEPT, Busy, CommissioningRuns


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


async def test_the_last_runs_are_kept_newest_first_and_every_change_wakes_a_waiter() -> None:
    runs = CommissioningRuns(clock=iter(range(100)).__next__)

    async def scan(_data: dict[str, Any]) -> dict[str, Any]:
        runs.note(1, 2, 0)
        return {"devices": []}

    runs.jobs["scan"] = scan
    versions = [runs.version]
    waiter = asyncio.create_task(runs.changed(runs.version, 10.0))
    await asyncio.sleep(0)
    assert not waiter.done()
    for n in range(RUNS_KEPT + 2):
        run = runs.begin("scan", f"user{n}")
        if n == 0:
            assert await waiter  # woken by the start, not by its timeout
        await runs.finish(run, {})
        versions.append(runs.version)
    assert versions == sorted(set(versions))  # a start, a progress and an end each count
    assert versions[1] - versions[0] == 3
    assert [r.by for r in runs.recent] == [f"user{n}" for n in range(RUNS_KEPT + 1, 1, -1)]
    assert runs.recent[0] is runs.current
    assert not await runs.changed(runs.version, 0.01)  # nothing new: the wait runs out
