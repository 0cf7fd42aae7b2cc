"""Load balancing of the real daemon on a simulated site: overload steps, minimums, rotation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from tests.e2e.checks import MEASUREMENT_TOLERANCE_A, charging, describe, grid_a, offers_a, plugged
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.overload import overload_step
from tests.e2e.site import CONNECTORS, MIN_CURRENT_A, MIN_LOAD_A, RESPONSE_DELAY_S

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# The bound the brief sets is the EVs' response delay + 2 s; on this shared 2-core machine the
# processes can stall for seconds (other test runs, CI), so the margin is a generous 8 s. The
# precise number is measured in bench/bench_e2e.py.
OVERLOAD_MARGIN_S = 8.0
OVERLOAD_BOUND_S = RESPONSE_DELAY_S + 2.0 + OVERLOAD_MARGIN_S


async def every_ev_charging(site: E2ESite) -> None:
    async def check() -> bool:
        state = await site.state()
        return sorted(charging(state)) == sorted(plugged(state)) != []

    await eventually(check, "every plugged EV charging", 40)


async def every_ev_drawing_its_minimum(site: E2ESite) -> None:
    """Every plugged EV charging and drawing at least its minimum, so that a building step
    overloads the grid: in state C an EV may draw nothing yet (resumed, not ramped), and a step
    that comes then is answered before the EVs draw into it (all six paused at 40/30/40 A, the
    grid never read over the limit: no overload to watch)."""

    async def check() -> bool:
        state = await site.state()
        drawn = {cid: max(c["drawn_a"]) for cid, c in state["connectors"].items()}
        return sorted(charging(state)) == sorted(plugged(state)) != [] and all(
            drawn[cid] >= MIN_CURRENT_A for cid in plugged(state)
        )

    await eventually(check, "every plugged EV drawing its minimum", 40)


async def minimums_offered(site: E2ESite, limit_a: float) -> bool:
    """Every plugged EV offered its minimum, and the daemon's latest grid reading within the
    limit: until it reads so, the daemon has not seen the overload corrected, and a reading over
    the limit is acted on at once (nothing waits over a limit) even where it was taken just
    before the EVs followed their lowering while their chargers read after (an EV lowered 9 ->
    7 A at a 57 A reading was paused on the next one, 57 A again, its charger reading 7 A)."""
    state = await site.state()
    if any(offers_a(state)[cid] < MIN_CURRENT_A for cid in plugged(state)):
        return False
    grid = (await site.status()).grid_current_a
    return grid is not None and max(grid) <= limit_a


async def assert_minimums_for(site: E2ESite, seconds: float, limit_a: float) -> None:
    """For ``seconds``: every plugged EV is offered its minimum and the grid stays in limit."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        state = await site.state()
        offers = offers_a(state)
        short = {cid: offers[cid] for cid in plugged(state) if offers[cid] < MIN_CURRENT_A}
        assert not short, f"below minimum while capacity allows: {short}; {describe(state)}"
        assert max(grid_a(state)) <= limit_a + MEASUREMENT_TOLERANCE_A, describe(state)
        await asyncio.sleep(0.25)


async def test_overload_step_is_corrected_and_every_ev_keeps_its_minimum(
    launch: Launch, config: dict[str, Any]
) -> None:
    limit_a = float(config["site"]["grid_limit_a"])
    site = await launch(config, plugged=CONNECTORS)
    await every_ev_charging(site)
    # +7 A on every phase overloads the full connection, yet leaves 8 A of room above every
    # EV's minimum (30 A on L1 and L3): more than the skew between meter and charger readings.
    base_a = 12.0
    assert base_a + max(MIN_LOAD_A) + 8 <= limit_a
    took_s = await overload_step(site, limit_a, (5.0, base_a), OVERLOAD_BOUND_S)
    print(f"overload corrected in {took_s:.2f} s")
    # A session paused to shed the overload fast must be resumed: capacity allows everyone's
    # minimum (bounded wait), and then it holds.
    # Bounded by a few settle and pause periods of the controller (5 s and 2 s here).
    await eventually(
        lambda: minimums_offered(site, limit_a), "every EV offered its minimum again", 30
    )
    await assert_minimums_for(site, 3.0, limit_a)


async def test_rotation_gives_every_waiting_ev_its_turn(
    launch: Launch, config: dict[str, Any]
) -> None:
    # 18 A with 5 A of building load: room for two three-phase EVs at 6 A, not three.
    limit_a, rotation_s = 18.0, 60.0
    config["site"].update(grid_limit_a=limit_a, rotation_interval_s=rotation_s)
    evs = ("keba:1", "charx:1", "hd1:1")
    site = await launch(config, plugged=evs)
    waiting = await settled_waiting(site, evs)
    # Bounded window: one rotation interval, plus settling and a generous margin for this
    # noisy machine.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rotation_s + 30.0
    while loop.time() < deadline:
        state = await site.state()
        assert max(grid_a(state)) <= limit_a + MEASUREMENT_TOLERANCE_A, describe(state)
        if waiting in charging(state):
            break
        await asyncio.sleep(0.25)
    assert waiting in charging(state), f"{waiting} starved; {describe(state)}"
    assert len(charging(state)) <= 2, describe(state)  # it took a turn, not extra capacity


async def settled_waiting(site: E2ESite, evs: tuple[str, ...]) -> str:
    """The EV left waiting once two charge and the allocation has been stable for 2 s."""
    loop = asyncio.get_running_loop()
    deadline, stable_since, last = loop.time() + 40.0, loop.time(), ""
    while loop.time() < deadline:
        state = await site.state()
        idle = [cid for cid in evs if cid not in charging(state)]
        current = idle[0] if len(idle) == 1 else ""
        if current != last:
            stable_since, last = loop.time(), current
        elif current and loop.time() - stable_since >= 2.0:
            return current
        await asyncio.sleep(0.25)
    raise AssertionError(f"never two charging and one waiting; {describe(state)}")


PAUSE_CYCLES = 6  # the reading torn by a stop is a matter of timing: 1-3 in 4 on the demo
LOW_BASE_A, HIGH_BASE_A = (10.0, 10.0, 10.0), (45.0, 20.0, 20.0)
HELD_HIGH_S = 10.0  # long enough for a paused EV to be resumed (min pause 2 s here)


async def test_a_three_phase_ev_paused_and_resumed_never_pushes_the_grid_over_its_limit(
    launch: Launch, config: dict[str, Any]
) -> None:
    # The demo's incident: the KEBA (phases rotated L2L3L1, read every second) with a
    # three-phase van (32 A, follows an offer after 3 s), the building stepping to 45/20/20 A.
    # Grid L1 (the van's L3) then has 5 A left: the van must pause and stay paused. Counted on
    # fewer phases (learned from a reading torn by the stop) it was resumed at 30 A and the grid
    # read 75 A on L1 (before the fix: in 1 of 2 runs of 5 cycles). The step itself overloads
    # the grid until a reading shows it and the EV follows (bounded as the overload test); once
    # back under the limit the grid must stay there until the building changes again.
    limit_a = float(config["site"]["grid_limit_a"])
    config["chargers"]["keba"].update(poll_interval_s=1.0, max_current_a=32)  # as in the demo
    van = {"phases": 3, "max_current_a": 32, "response_delay_s": 3}
    config["simulation"]["ev_profiles"]["car3"] = van
    site = await launch(config, plugged=("keba:1",))
    for cycle in range(1, PAUSE_CYCLES + 1):
        await site.control.set_base_load(*LOW_BASE_A)
        await eventually(lambda: _drawing_at_least(site, "keba:1", 10.0), "EV drawing", 40)
        await asyncio.sleep(2.0)  # its charger's readings show it on every phase
        await site.control.set_base_load(*HIGH_BASE_A)
        overloaded_s = await _overload_then_never_again(site, limit_a, HELD_HIGH_S)
        print(f"cycle {cycle}: building step overload lasted {overloaded_s:.2f} s")
        state = await site.state()
        assert offers_a(state)["keba:1"] == 0.0, describe(state)  # paused, not resumed


async def _drawing_at_least(site: E2ESite, cid: str, current_a: float) -> bool:
    drawn = (await site.state())["connectors"][cid]["drawn_a"]
    return min(float(amps) for amps in drawn) >= current_a


async def _overload_then_never_again(
    site: E2ESite,
    limit_a: float,
    hold_s: float,
    shows_the_step: Callable[[Sequence[float]], bool] | None = None,
) -> float:
    """Watch the grid for ``hold_s`` after a building step: the overload it causes must end
    within ``OVERLOAD_BOUND_S``, and none may follow. Returns how long the first one lasted.
    ``shows_the_step``: whether the grid's phases show the step (by default every phase at
    ``HIGH_BASE_A``)."""
    loop = asyncio.get_running_loop()
    stepped_at = loop.time()

    def at_high_base(grid: Sequence[float]) -> bool:
        return all(grid[p] >= HIGH_BASE_A[p] - MEASUREMENT_TOLERANCE_A for p in range(3))

    async def seen() -> bool:  # the meter shows the step within a physics tick or two
        return (shows_the_step or at_high_base)(grid_a(await site.state()))

    await eventually(seen, "the grid meter showing the building step", 2.0)
    under_since: float | None = None
    while loop.time() - stepped_at < hold_s:
        state = await site.state()
        over = max(grid_a(state)) > limit_a + MEASUREMENT_TOLERANCE_A
        if under_since is None and not over:
            under_since = loop.time()
        elif under_since is None:
            assert loop.time() - stepped_at <= OVERLOAD_BOUND_S, describe(state)
        else:
            assert not over, f"over the limit again (our offer): {describe(state)}"
        await asyncio.sleep(0.05)
    assert under_since is not None, "the building step's overload never ended"
    return under_since - stepped_at


STALL = ("tests.e2e.stalled_daemon", "0.3", "1.0")  # the daemon's loop blocked 300 ms a second
LOW_ALL_A, HIGH_ALL_A = (5.0, 5.0, 5.0), (40.0, 30.0, 40.0)
STALLED_CYCLES = 2


async def test_a_delayed_event_loop_keeps_the_grid_under_its_limit_as_evs_ramp_pause_and_resume(
    launch: Launch, config: dict[str, Any]
) -> None:
    # The real daemon (pollers beside the steps, readings stamped as they complete) with its
    # event loop blocked 300 ms every second: readings come late and steps run late. Every EV
    # ramps up from the start, then a building step makes room for fewer minimums than EVs
    # (some pause; its overload is the building's until a reading shows it, bounded), and
    # stepping back lets them resume and ramp. Only the building's steps may push the grid
    # over its limit: our offers never.
    limit_a = float(config["site"]["grid_limit_a"])
    assert HIGH_ALL_A[0] + MIN_LOAD_A[0] > limit_a  # the step overloads, minimums no longer fit
    site = await launch(config, daemon=False, plugged=CONNECTORS)
    await site.control.set_base_load(*LOW_ALL_A)
    await site.start_daemon(module=STALL)
    await _never_over_while(site, limit_a, every_ev_charging(site))
    await _never_over_for(site, limit_a, 5.0)  # ramped to what the limit allows, and held
    for cycle in range(1, STALLED_CYCLES + 1):
        await _never_over_while(site, limit_a, every_ev_drawing_its_minimum(site))
        await site.control.set_base_load(*HIGH_ALL_A)
        overloaded_s = await _building_overload_then_never_again(site, limit_a, HELD_HIGH_S)
        print(f"cycle {cycle}: building step overload lasted {overloaded_s:.2f} s")
        state = await site.state()
        assert sorted(charging(state)) != sorted(plugged(state)), describe(state)  # some paused
        await site.control.set_base_load(*LOW_ALL_A)
        await _never_over_while(site, limit_a, every_ev_charging(site))  # resumed
        await _never_over_for(site, limit_a, 5.0)


async def _never_over_while(site: E2ESite, limit_a: float, until: Awaitable[Any]) -> None:
    """Watch the grid until ``until`` (an awaitable) is done: never over the limit."""
    task = asyncio.ensure_future(until)
    try:
        while not task.done():
            state = await site.state()
            assert max(grid_a(state)) <= limit_a + MEASUREMENT_TOLERANCE_A, describe(state)
            await asyncio.sleep(0.05)
        task.result()
    finally:
        task.cancel()


async def _never_over_for(site: E2ESite, limit_a: float, seconds: float) -> None:
    await _never_over_while(site, limit_a, asyncio.sleep(seconds))


async def _building_overload_then_never_again(
    site: E2ESite, limit_a: float, hold_s: float
) -> float:
    """As ``_overload_then_never_again`` for the step to ``HIGH_ALL_A``, which overloads the
    grid with every EV at its minimum: the meter shows the step once it reads over the limit
    (the EVs alone may have brought it to ``HIGH_ALL_A`` before the step)."""
    return await _overload_then_never_again(
        site, limit_a, hold_s, lambda grid: max(grid) > limit_a + MEASUREMENT_TOLERANCE_A
    )
