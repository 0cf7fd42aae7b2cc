"""Lines every identity writes at once are folded: the first few of each window written, the
rest counted and told in one line when the window is over."""

from __future__ import annotations

import asyncio
from typing import Any

from edge_controller.uplink.repeated_lines import Folded, Folding, RepeatedLines


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, method: str) -> Any:
        def write(event: str, **fields: Any) -> None:
            self.lines.append((method, event, fields))

        return write


def test_the_first_lines_of_a_window_are_written_the_rest_counted() -> None:
    folding = Folding(first=2, window_s=60.0)
    taken = [folding.take("lost", "warning", f"cp{n % 5}", 10.0 + n) for n in range(10)]
    assert taken == [True, True] + [False] * 8
    assert folding.ended(69.9) == []  # the window started at 10 s
    assert folding.ended(70.0) == [Folded("lost", "warning", 8, 5)]
    assert folding.ended(200.0) == []  # told once
    assert folding.take("lost", "warning", "cp1", 200.0)  # a new window


def test_events_are_counted_apart_and_a_window_without_folds_tells_nothing() -> None:
    folding = Folding(first=1, window_s=10.0)
    assert folding.take("lost", "warning", "a", 0.0)
    assert folding.take("connected", "info", "a", 1.0)
    assert not folding.take("connected", "info", "b", 2.0)
    assert folding.next_end_s() == 11.0  # only the window that folded a line
    assert folding.ended(20.0) == [Folded("connected", "info", 1, 1)]


def test_the_count_is_told_with_the_next_line_after_the_window() -> None:
    now = [0.0]
    log = Recorder()
    lines = RepeatedLines(log, Folding(first=1, window_s=60.0), lambda: now[0])
    for n in range(4):
        lines.warning("CSMS connection lost", f"cp{n}", error="refused")
    now[0] = 61.0
    lines.warning("CSMS connection lost", "cp9", error="refused")
    assert log.lines == [
        ("warning", "CSMS connection lost", {"identity": "cp0", "error": "refused"}),
        ("warning", "CSMS connection lost",
         {"folded_lines": 3, "identities": 3, "window_s": 60.0}),
        ("warning", "CSMS connection lost", {"identity": "cp9", "error": "refused"}),
    ]  # fmt: skip


async def test_the_count_is_told_when_the_window_ends_without_another_line() -> None:
    log = Recorder()
    lines = RepeatedLines(log, Folding(first=1, window_s=0.2))
    for n in range(5):
        lines.info("connected to CSMS", f"cp{n}")
    assert len(log.lines) == 1
    await asyncio.sleep(0.4)
    assert log.lines[1] == (
        "info", "connected to CSMS", {"folded_lines": 4, "identities": 4, "window_s": 0.2}
    )  # fmt: skip


def test_a_stop_tells_what_was_counted() -> None:
    log = Recorder()
    lines = RepeatedLines(log, Folding(first=1, window_s=60.0))
    lines.error("CSMS refused the connection", "cp1", error="401")
    lines.error("CSMS refused the connection", "cp1", error="401")
    lines.flush()
    assert log.lines[-1] == (
        "error", "CSMS refused the connection",
        {"folded_lines": 1, "identities": 1, "window_s": 60.0},
    )  # fmt: skip
