"""The progress line while a large backlog drains."""

from __future__ import annotations

from typing import Any

from edge_controller.uplink.outbox.progress import DrainProgress


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


async def test_reports_backlog_rate_and_time_left() -> None:
    log, now = Lines(), [0.0]
    backlog = [1000]

    async def pending() -> int:
        return backlog[0]

    progress = DrainProgress(log, lambda: now[0])
    await progress.tick(pending)
    now[0], backlog[0] = 10.0, 800
    await progress.tick(pending)
    progress.finish()
    assert log.lines[0] == ("outbox draining", {"backlog": 1000})
    assert log.lines[1] == (
        "outbox draining",
        {"backlog": 800, "rate_per_s": 20.0, "time_left_s": 40},
    )
    assert log.lines[2] == ("outbox drained", {"messages": 1000})


async def test_small_backlogs_stay_quiet() -> None:
    log = Lines()

    async def pending() -> int:
        return 3

    progress = DrainProgress(log, lambda: 0.0)
    await progress.tick(pending)
    progress.finish()
    assert log.lines == []
