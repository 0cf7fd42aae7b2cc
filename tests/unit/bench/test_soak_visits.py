"""The soak's EVs: every connector sees visits all along the run, never two at once."""

from __future__ import annotations

import itertools

from bench.soak import VISIT_S, visits


def test_every_connector_is_visited_again_and_again_without_overlap() -> None:
    chargers = {"a": {"connectors": 2}, "b": {}}
    total_s = 4 * VISIT_S
    script = visits(chargers, total_s)
    for cid in ("a:1", "a:2", "b:1"):
        mine = sorted((v["arrive_s"], v["leave_s"]) for v in script if v["connector"] == cid)
        assert len(mine) >= 3
        assert all(leave > arrive for arrive, leave in mine)
        assert all(nxt[0] > prev[1] for prev, nxt in itertools.pairwise(mine))
        assert mine[-1][0] < total_s
    firsts = sorted(
        min(v["arrive_s"] for v in script if v["connector"] == c) for c in ("a:1", "a:2", "b:1")
    )
    assert len(set(firsts)) == 3  # staggered: the sites' sessions do not all start together
