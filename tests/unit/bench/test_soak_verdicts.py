"""The soak's verdicts: a sample whose status did not answer is a gap, not a zero backlog."""

from __future__ import annotations

from typing import Any

from bench.soak import verdicts


def _samples(backlogs: list[int | None]) -> list[dict[str, Any]]:
    return [
        {
            "t_s": 60.0 * i,
            "rss_mb": 90.0,
            "open_fds": 40,
            "outbox_backlog": backlog,
            "db_bytes_per_row": 100.0,
        }
        for i, backlog in enumerate(backlogs)
    ]


def test_a_status_gap_is_left_out_of_the_backlog_verdict() -> None:
    # Read as 0, the gap would make a flat backlog of 500 look like it falls and then rises.
    found = verdicts(_samples([500] * 20 + [None] + [500] * 19))
    assert found["outbox_backlog"]["flat"]
    assert found["outbox_backlog"]["slope_per_h"] == 0.0


def test_a_backlog_growing_around_a_gap_is_still_judged_growing() -> None:
    found = verdicts(
        _samples([10 * i for i in range(20)] + [None] + [10 * i for i in range(21, 40)])
    )
    assert not found["outbox_backlog"]["flat"]
