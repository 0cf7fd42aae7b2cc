"""EVs that pause and resume on their own (a timer, a full battery: offered current, they stop
drawing in state B or C, then draw again), with the real daemon on the simulated site and the
simulator's own grid meter, sampled every 0.1 s, as the truth.

Two three-phase EVs share a 24 A connection (charx:1 and charx:2, both wired L1L2L3, follow a
new offer after 1 s). The bounds asserted are the documented ones:

- The controller's own offers never take more than the limit leaves beside the building, and a
  paused EV keeps its offer, counted whole (``domain/balancing/caution.py``: "a paused or unread
  connector counts its whole offer"; README, "a paused EV its whole offer: it may resume into a
  real rise"). With the building steady the grid is therefore never over its limit: 0 A·s,
  and the paused EV's share is not handed to the other EV (so its resume needs no lowering).
- A building rise within the limit while an EV is paused lowers the offers at once, not held
  for paired readings (``unraised_rise``); over the limit only while an EV that resumes within
  about a second of the rise, before any lowering can act, follows (issue 21's note: the 14 rig
  cases still over all resume within 1 s). Resuming 2 s after the rise, the bound is 0 A·s.
"""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from typing import Any

import pytest

from tests.e2e.checks import MEASUREMENT_TOLERANCE_A
from tests.e2e.conftest import Launch
from tests.e2e.grid_watch import GridWatch, watching
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_ocpp import IDENTITY, Csms, connected, csms, with_uplink

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
__all__ = ["csms"]  # the bench CSMS fixture, shared with test_ocpp

LIMIT_A = 24.0
PAIR = ("charx:1", "charx:2")
PAUSER = "charx:2"
PAUSED_S = 8.0  # longer than the controller's settling (5 s) and minimum pause (2 s)
BUILDING_A = 12.0  # the rise within the limit while the EV is paused: 12 + 6 + 6 A fit
RESUME_AFTER_RISE_S = 2.0


def pair_config(config: dict[str, Any]) -> dict[str, Any]:
    config["site"]["grid_limit_a"] = LIMIT_A
    config["simulation"]["base_load"] = [{"at": "00:00", "current_a": [0, 0, 0]}]
    return config


async def pair_drawing(site: E2ESite, current_a: float, within_s: float = 40.0) -> None:
    """Until both EVs draw ``current_a`` on every phase (the fair share of what is left)."""

    async def check() -> bool:
        connectors = (await site.state())["connectors"]
        drawn = [float(a) for cid in PAIR for a in connectors[cid]["drawn_a"]]
        return all(abs(a - current_a) < 0.01 for a in drawn)

    await eventually(check, f"both EVs drawing {current_a:g} A", within_s)


def offered_over_as(watch: GridWatch, building_a: float, since_s: float = 0.0) -> float:
    """Ampere-seconds by which the pair's offers plus ``building_a`` exceeded the limit: the
    controller handing out more than there is, whether or not an EV draws it yet."""
    samples = watch.since(since_s)
    total = 0.0
    for now, after in pairwise(samples):
        offered_a = building_a + sum(now.offers_a[cid] for cid in PAIR)
        total += max(0.0, offered_a - LIMIT_A) * (after.at_s - now.at_s)
    return total


def energy_wh(watch: GridWatch, cid: str, from_s: float, to_s: float) -> float:
    """What ``cid``'s EV drew between two moments, from the simulator's session counter."""
    window = [s for s in watch.since(from_s) if s.at_s <= to_s]
    return window[-1].session_wh[cid] - window[0].session_wh[cid]


@pytest.mark.parametrize("pause_state", ["B", "C"])
async def test_an_ev_pausing_on_its_own_keeps_its_offer_and_resumes_within_the_limit(
    launch: Launch, config: dict[str, Any], pause_state: str
) -> None:
    site = await launch(pair_config(config), plugged=PAIR)
    await pair_drawing(site, LIMIT_A / 2)
    async with watching(site) as watch:
        paused_at_s = (await watch.sample()).at_s
        await site.control.pause(PAUSER, pause_state)
        await asyncio.sleep(PAUSED_S)
        resumed_at_s = (await watch.sample()).at_s
        await site.control.resume(PAUSER)
        await pair_drawing(site, LIMIT_A / 2, within_s=20.0)
        await asyncio.sleep(2.0)  # and it stays so
    limit_a = LIMIT_A + MEASUREMENT_TOLERANCE_A
    assert watch.over_as(limit_a) == 0.0, watch.describe_over(limit_a)
    assert offered_over_as(watch, 0.0) == 0.0, watch.describe_over(0.0)
    paused = [s for s in watch.since(paused_at_s + 1.0) if s.at_s < resumed_at_s]
    assert {s.states[PAUSER] for s in paused} == {pause_state}
    assert {s.drawn_a[PAUSER] for s in paused} == {0.0}
    assert energy_wh(watch, PAUSER, paused_at_s + 1.0, resumed_at_s) == 0.0
    # Its share is not handed to the other EV: neither is offered more than 12 A. (Both may be
    # lowered for a while: a charger read showing the pause before the grid reading does looks
    # like building load, and with a paused EV's whole offer counted that lowering is not held.)
    assert max(s.offers_a[c] for s in paused for c in PAIR) == 12.0
    during = [s for s in watch.since(paused_at_s) if s.at_s <= resumed_at_s]
    lowered_s = sum(b.at_s - a.at_s for a, b in pairwise(during) if a.offers_a[PAUSER] < 12)
    # charx:1 drew no more than its 12 A on three phases meanwhile (8.28 kW), within a sample
    drawn_wh = energy_wh(watch, "charx:1", paused_at_s, resumed_at_s)
    most_wh = 12.0 * 3 * 230.0 * (resumed_at_s - paused_at_s + 0.2) / 3600.0
    assert 0.0 < drawn_wh <= most_wh, (drawn_wh, most_wh)
    print(f"offers below 12 A for {lowered_s:.1f} s while {PAUSER} was paused")


@pytest.mark.parametrize("pause_state", ["B", "C"])
async def test_a_building_rise_while_an_ev_is_paused_is_answered_before_it_resumes(
    launch: Launch, config: dict[str, Any], pause_state: str
) -> None:
    # The rig's 36 A on 24 A: the building rises from 0 to 12 A, within the limit, while
    # charx:2 is paused with its 12 A offer; 12 + 12 + 12 A once it resumes. The rise must
    # lower both offers to 6 A before the EV resumes 2 s later.
    site = await launch(pair_config(config), plugged=PAIR)
    await pair_drawing(site, LIMIT_A / 2)
    async with watching(site) as watch:
        await site.control.pause(PAUSER, pause_state)
        await asyncio.sleep(PAUSED_S)
        await site.control.set_base_load(BUILDING_A, BUILDING_A, BUILDING_A)
        risen_at_s = (await watch.sample()).at_s
        await asyncio.sleep(RESUME_AFTER_RISE_S)
        fair_a = (LIMIT_A - BUILDING_A) / 2

        async def lowered() -> bool:
            return (await watch.sample()).offers_a[PAUSER] <= fair_a

        # Resumed once the lowering is seen, however late a loaded machine makes it: that the
        # daemon answers before the EV resumes is the bound asserted here, how soon it does
        # is the benchmarks' (its lag is printed below).
        await eventually(lowered, f"{PAUSER}'s offer lowered to {fair_a:g} A", 30.0)
        resumed_at_s = (await watch.sample()).at_s
        await site.control.resume(PAUSER)
        await pair_drawing(site, fair_a, within_s=30.0)
        await asyncio.sleep(2.0)
    limit_a = LIMIT_A + MEASUREMENT_TOLERANCE_A
    over_as = watch.over_as(limit_a)
    assert over_as == 0.0, f"{over_as:.2f} A*s over: {watch.describe_over(limit_a)}"
    before = [s for s in watch.since(0.0) if s.at_s <= resumed_at_s]
    # Still lowered as it resumed (not raised again meanwhile), and never raised after.
    assert before[-1].offers_a[PAUSER] <= fair_a, "the paused EV's offer was raised again"
    assert max(s.offers_a[c] for s in watch.since(resumed_at_s) for c in PAIR) <= fair_a
    # Offers plus the building over the limit only from the rise until the lowering.
    lowered_at_s = next(
        s.at_s
        for s in watch.since(risen_at_s)
        if sum(s.offers_a[c] for c in PAIR) <= LIMIT_A - BUILDING_A
    )
    assert offered_over_as(watch, BUILDING_A, lowered_at_s) == 0.0
    print(f"offers lowered {lowered_at_s - risen_at_s:.2f} s after the rise")
    after = watch.since(risen_at_s)
    cut_s = sum(
        b.at_s - a.at_s for a, b in pairwise(after) if min(a.offers_a[c] for c in PAIR) == 0
    )
    # (read skew, as in the first test: a pause not needed, on the safe side)
    print(f"an EV offered nothing for {cut_s:.1f} s after the rise")
    assert watch.peak_a(risen_at_s) <= limit_a


SESSION_ROWS = (
    "SELECT s.local_id, s.meter_start_wh, s.stop_at_s, s.meter_stop_wh, s.stop_reason,"
    " t.remote_transaction_id FROM sessions s"
    " LEFT JOIN transaction_ids t ON t.session_local_id = s.local_id WHERE s.connector_id = ?"
)
OUTBOX_ROWS = "SELECT event, state, attempts FROM outbox WHERE session_local_id = ? ORDER BY seq"
ALONE = "charx:1"  # the one EV of the session tests: 16 A on a 50 A connection, 5 A building
CHARGED_S = 3.0  # about 11 Wh at 16 A on three phases


async def session_drawing(site: E2ESite) -> int:
    """Plug the EV (free vend), until it draws 16 A and the CSMS knows its transaction; that
    transaction's id."""
    await site.control.plug(ALONE, profile="car3")

    async def linked() -> bool:
        rows = site.query(SESSION_ROWS, (ALONE,))
        return len(rows) == 1 and rows[0][5] is not None

    await eventually(linked, "the session open and its CSMS transaction known", 30)

    async def drawing() -> bool:
        drawn = (await site.state())["connectors"][ALONE]["drawn_a"]
        return min(float(a) for a in drawn) == 16.0

    await eventually(drawing, f"{ALONE} drawing 16 A", 30)
    return int(site.query(SESSION_ROWS, (ALONE,))[0][5])


async def charger_reads(site: E2ESite) -> int:
    """The requests the simulated charger of ``ALONE`` has answered so far."""
    return sum((await site.state())["devices"][ALONE.partition(":")[0]]["requests"].values())


async def read_and_decided_since(site: E2ESite) -> None:
    """Until the daemon has read the charger from scratch since now and taken a control step
    after that read: what it decides on the EV as it is now has been written (a request seen
    after a first new one began once the first was answered, so after this call)."""
    first = await charger_reads(site)

    async def read_more(than: int) -> int:
        async def more() -> bool:
            return await charger_reads(site) > than

        await eventually(more, "the daemon reading the charger", 20.0)
        return await charger_reads(site)

    await read_more(await read_more(first))
    read_by_s = time.time()

    async def stepped() -> bool:
        return (await site.status()).at_s > read_by_s

    await eventually(stepped, "a control step after the charger's read", 20.0)


async def sim_energy_wh(site: E2ESite) -> float:
    return float((await site.state())["connectors"][ALONE]["session_energy_wh"])


@pytest.mark.parametrize(("stop_by", "pause_state"), [("csms", "C"), ("unplug", "B")])
async def test_a_paused_ev_s_session_stopped_is_recorded_once_with_its_energy(
    launch: Launch, config: dict[str, Any], csms: Csms, stop_by: str, pause_state: str
) -> None:
    site = await launch(with_uplink(config, csms.port))
    await connected(site, csms)
    remote_id = await session_drawing(site)
    await asyncio.sleep(CHARGED_S)
    await site.control.pause(ALONE, pause_state)
    await asyncio.sleep(1.5)  # the daemon reads the charger's counter after the EV stopped
    paused_wh = await sim_energy_wh(site)
    await asyncio.sleep(2.0)
    assert await sim_energy_wh(site) == paused_wh  # nothing drawn while paused
    if stop_by == "csms":
        answer = await csms.csms.send(
            IDENTITY, "RemoteStopTransaction", {"transactionId": remote_id}
        )
        assert answer == {"status": "Accepted"}
    else:
        await site.control.unplug(ALONE)

    async def stopped() -> bool:
        return site.query(SESSION_ROWS, (ALONE,))[0][2] is not None

    await eventually(stopped, "the session stopped in the database")
    if stop_by == "csms":  # the EV, still plugged, resumes: nothing is offered any more
        await site.control.resume(ALONE)
        await read_and_decided_since(site)
        view = (await site.state())["connectors"][ALONE]
        assert view["ev"]["paused"] is None, view  # resumed: it would draw what is offered
        assert (view["offered_a"], max(view["drawn_a"])) == (0.0, 0.0), view

    async def stop_sent() -> bool:
        return any(p["transactionId"] == remote_id for p in csms.calls("StopTransaction"))

    await eventually(stop_sent, "StopTransaction at the CSMS")
    ((local_id, start_wh, _, stop_wh, reason, tx_id),) = site.query(SESSION_ROWS, (ALONE,))

    async def settled() -> bool:  # answered: the outbox sends it no more
        rows = site.query(OUTBOX_ROWS, (local_id,))
        return bool(rows) and all(state == "acked" for _, state, _ in rows)

    await eventually(settled, "the session's messages acknowledged by the CSMS")
    stop_rows = [row for row in site.query(OUTBOX_ROWS, (local_id,)) if row[0] == "session_ended"]
    # One stop in line, answered at its first attempt: nothing left to retry or send again.
    assert [(state, attempts) for _, state, attempts in stop_rows] == [("acked", 0)], stop_rows
    assert await sim_energy_wh(site) == paused_wh  # nothing after the stop either
    assert paused_wh > 5.0, paused_wh  # (it did charge: a stop with 0 Wh would prove nothing)
    # The register is whole watt-hours: the session's energy is the EV's, to within one.
    assert abs((stop_wh - start_wh) - paused_wh) < 1.0, (start_wh, stop_wh, paused_wh)
    assert reason == ("Remote" if stop_by == "csms" else "EVDisconnected")
    stops = [p for p in csms.calls("StopTransaction") if p["transactionId"] == tx_id]
    assert len(stops) == 1, stops
    assert stops[0]["meterStop"] == stop_wh
    tx = csms.csms.record.transactions[tx_id]
    assert (tx["meterStart"], tx["stop"]["meterStop"]) == (start_wh, stop_wh), tx
    ended = site.query(
        "SELECT COUNT(*) FROM outbox WHERE session_local_id = ? AND event = 'session_ended'",
        (local_id,),
    )
    assert ended == [(1,)], ended
