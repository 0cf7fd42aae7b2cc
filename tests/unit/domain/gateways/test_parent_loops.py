"""One loop file per case under loops/, named after it (see ``loop_io``): the grid never goes
over its limit, every child comes to its share and stays there, and once the children are
heading for their shares no budget moves away from its share again (a child lowered to make
room is not raised past its share while the other's increase waits for the lowering to
settle), nor changes within ``apart_s`` of its last change (a noisy share)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.unit.domain.gateways.loop_io import load, run

LOOPS = sorted((Path(__file__).parent / "loops").glob("*.yaml"))
SLACK_A = 1e-6


@pytest.mark.parametrize("path", LOOPS, ids=lambda p: p.stem)
def test_loop(path: Path) -> None:
    loop = load(path)
    limit_a = loop.setup.site.grid_limit_a
    grid = run(loop)
    over = [(t, a) for t, a in grid if a > limit_a + SLACK_A]
    assert not over, f"grid over {limit_a} A at {over[:5]}"
    expect = loop.expect
    for child in loop.children:
        cid = child.feeder.child_id
        share_a = expect.shares_a[cid]
        trace = [(t, b[0]) for t, b in child.budgets]
        by_s = expect.settled_by_s
        late = [(t, a) for t, a in trace if t >= by_s and a != pytest.approx(share_a)]
        assert not late, f"{cid} not at its {share_a} A share from {by_s} s: {late[:5]}"
        heading = [(t, a) for t, a in trace if t >= expect.toward_from_s]
        away = [
            (t0, a0, t1, a1)
            for (t0, a0), (t1, a1) in itertools.pairwise(heading)
            if abs(a1 - share_a) > abs(a0 - share_a) + SLACK_A
        ]
        assert not away, f"{cid} moved away from its {share_a} A share: {away[:5]}"
        changed = [t1 for (_, a0), (t1, a1) in itertools.pairwise(heading) if a1 != a0]
        close = [(t0, t1) for t0, t1 in itertools.pairwise(changed) if t1 - t0 < expect.apart_s]
        assert not close, f"{cid}'s budget changed within {expect.apart_s} s: {close[:5]}"
