"""The CALL turn: one holder at a time, in the order asked, the turn never lost to a
cancellation, and nothing kept once nobody waits. Ordered by events, not timed."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

from edge_controller.uplink.turn import Turn


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Line:
    """Callers of one turn; each records when it held it and holds until released."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.held: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    async def caller(self, name: str) -> None:
        self.release[name] = asyncio.Event()
        async with self.turn:
            self.held.append(name)
            await self.release[name].wait()

    def start(self, name: str) -> asyncio.Task[None]:
        return asyncio.create_task(self.caller(name), name=name)


async def test_callers_hold_the_turn_one_at_a_time_in_the_order_asked() -> None:
    line = Line(Turn())
    tasks = [line.start(name) for name in ("a", "b", "c")]
    await _settle()
    for name in ("a", "b", "c"):
        assert line.held[-1] == name
        line.release[name].set()
        await _settle()
    await asyncio.gather(*tasks)
    assert line.held == ["a", "b", "c"]
    assert not line.turn.locked()


async def test_a_caller_cancelled_while_waiting_leaves_the_line() -> None:
    line = Line(Turn())
    a, b, c = line.start("a"), line.start("b"), line.start("c")
    await _settle()
    b.cancel()
    await _settle()
    line.release["a"].set()
    await _settle()
    assert line.held == ["a", "c"]
    line.release["c"].set()
    await asyncio.gather(a, c)
    with pytest.raises(asyncio.CancelledError):
        await b
    assert not line.turn.locked()


async def test_a_holder_cancelled_passes_the_turn_on() -> None:
    line = Line(Turn())
    a, b = line.start("a"), line.start("b")
    await _settle()
    a.cancel()
    await _settle()
    assert line.held == ["a", "b"]
    line.release["b"].set()
    await b
    with pytest.raises(asyncio.CancelledError):
        await a
    assert not line.turn.locked()


async def test_a_caller_cancelled_after_it_was_handed_the_turn_passes_it_on() -> None:
    """Handed the turn by the holder's release, cancelled before it ran: the next caller
    gets it; the turn is not left held by nobody."""
    line = Line(Turn())
    a, b, c = line.start("a"), line.start("b"), line.start("c")
    await _settle()
    line.release["a"].set()
    await asyncio.sleep(0)  # a runs once: it leaves and hands the turn to b
    assert a.done() and line.held == ["a"]  # b has not run yet
    b.cancel()
    await _settle()
    assert line.held == ["a", "c"]
    line.release["c"].set()
    await asyncio.gather(a, c)
    with pytest.raises(asyncio.CancelledError):
        await b
    assert not line.turn.locked()
    async with line.turn:  # free for the next at once
        assert line.turn.locked()


async def test_a_caller_after_a_cancelled_waiter_still_left_in_line_gets_the_turn() -> None:
    """Released while the only one waiting was cancelled and not yet gone from the line: the
    next caller takes the free turn instead of waiting behind it."""
    line = Line(Turn())
    a, b = line.start("a"), line.start("b")
    await _settle()
    b.cancel()
    line.release["a"].set()
    await asyncio.sleep(0)
    d = line.start("d")
    line.release.setdefault("d", asyncio.Event())
    await _settle()
    assert line.held == ["a", "d"]
    line.release["d"].set()
    await asyncio.gather(a, d)
    with pytest.raises(asyncio.CancelledError):
        await b


async def _kept_after_two_met(make: type[Turn] | type[asyncio.Lock]) -> int:
    turns = [make() for _ in range(100)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for turn in turns:
            line = Line(turn)  # type: ignore[arg-type]
            a, b = line.start("a"), line.start("b")
            await _settle()
            line.release["a"].set()
            line.release["b"].set()
            await asyncio.gather(a, b)
        del line, a, b
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) // len(turns)
    finally:
        tracemalloc.stop()


async def test_a_turn_keeps_nothing_once_two_callers_met() -> None:
    """An asyncio.Lock keeps its waiters' deque (some 760 bytes) for good once two met."""
    lock_kept, turn_kept = await _kept_after_two_met(asyncio.Lock), await _kept_after_two_met(Turn)
    assert lock_kept - turn_kept > 500, (lock_kept, turn_kept)  # what it replaces
    assert turn_kept < 100, turn_kept
