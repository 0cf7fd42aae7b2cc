"""RemoteStartTransaction is answered from the session side's own decision: Accepted means a
connector is held for that start now (it starts when the EV comes, or is given up after
ConnectionTimeOut with a StatusNotification that says so); otherwise Rejected. The races of a
connector whose session has just ended (cable still in) or is just being opened, while the
views still show it Preparing, run against a real CSMS over a real websocket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.state import Phase
from edge_controller.domain.sessions.tokens import masked
from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink.clock import to_iso
from tests.integration.ocpp.harness import running_csms, settings_for, wait_for
from tests.integration.ocpp.sessions_site import (
    CARD,
    PLUG_TIMEOUT_S,
    LiveSite,
    live_site,
    uplink_to,
)

pytestmark = pytest.mark.integration
PROBES = 6
NUMBER = {"c1:1": 1, "c1:2": 2}


def held_for(site: LiveSite, id_tag: str) -> str | None:
    """The connector the session side holds for (or charges) ``id_tag``, if any."""
    for cid in NUMBER:
        wait = site.manager.plug_wait(cid)
        record = site.manager.open_session(cid)
        if (wait is not None and wait.token == masked(id_tag)) or (
            record is not None and record.id_tag == id_tag
        ):
            return cid
    return None


@asynccontextmanager
async def wired(tmp_path: Path) -> AsyncIterator[tuple[BenchCsms, LiveSite]]:
    """A bench CSMS and the session side, connected and booted."""
    csms = BenchCsms()
    async with (
        running_csms(csms) as port,
        live_site(tmp_path) as (site, outbox),
        uplink_to(settings_for(f"ws://127.0.0.1:{port}"), site, outbox, tmp_path) as uplink,
    ):
        await wait_for(lambda: uplink.online and "site1" in csms.connected)  # boot answered
        yield csms, site


def statuses(csms: BenchCsms, connector: int) -> list[dict[str, Any]]:
    return [p for _, a, p in csms.record.calls
            if a == "StatusNotification" and p["connectorId"] == connector]  # fmt: skip


async def one_finished_race(tmp_path: Path, tag: str) -> tuple[str, str | None, bool]:
    """c1:1's session has just been stopped with the cable still in (the charger side shows
    Preparing), c1:2 is free; a RemoteStart without connectorId arrives. Returns the answer,
    the connector held for it, and whether it started once the EV came."""
    async with wired(tmp_path) as (csms, site):
        await site.plug("c1:1")
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted  # stops it
        assert site.manager.phase("c1:1") is Phase.FINISHED
        answer = (await csms.send("site1", "RemoteStartTransaction", {"idTag": tag}))["status"]
        held = held_for(site, tag)
        if held is not None:
            await site.plug(held)
            await wait_for(lambda: any(t["idTag"] == tag
                                       for t in csms.record.transactions.values()))  # fmt: skip
        started = any(t["idTag"] == tag for t in csms.record.transactions.values())
    return answer, held, started


async def test_a_remote_start_never_takes_a_connector_whose_session_just_ended(
    tmp_path: Path,
) -> None:
    outcomes = [await one_finished_race(tmp_path / str(n), f"REMOTE{n:04d}") for n in range(PROBES)]
    honest = [o for o in outcomes if o == ("Accepted", "c1:2", True)]
    print(f"race probe: {len(honest)} of {PROBES} RemoteStarts accepted and started")
    assert len(honest) == PROBES, outcomes


async def test_a_remote_start_never_takes_a_connector_whose_session_is_opening(
    tmp_path: Path,
) -> None:
    async with wired(tmp_path) as (csms, site):
        await site.plug("c1:1")
        site.meters["c1:1"].free.clear()  # the start's meter read hangs: being recorded
        tap = asyncio.create_task(site.manager.on_token(Token(CARD), "c1:1"))
        await wait_for(lambda: site.manager.phase("c1:1") is Phase.OPENING)
        assert site.shown("c1:1").session_id is None  # nothing in the views says it is taken
        remote = await csms.send("site1", "RemoteStartTransaction", {"idTag": "REMOTE07"})
        named = await csms.send(
            "site1", "RemoteStartTransaction", {"idTag": "REMOTE08", "connectorId": 1}
        )
        site.meters["c1:1"].free.set()
        assert (await tap).accepted
        record = site.manager.open_session("c1:1")
    assert remote == {"status": "Accepted"} and held_for(site, "REMOTE07") == "c1:2"
    assert named == {"status": "Rejected"}
    assert record is not None and record.id_tag == CARD


async def test_starts_at_the_same_moment_get_distinct_connectors_or_rejected(
    tmp_path: Path,
) -> None:
    async with wired(tmp_path) as (csms, site):
        tags = ["RACE0001", "RACE0002", "RACE0003"]
        answers = await asyncio.gather(
            *(csms.send("site1", "RemoteStartTransaction", {"idTag": t}) for t in tags)
        )
        held = {t: held_for(site, t) for t in tags}
    accepted = [t for t, a in zip(tags, answers, strict=True) if a["status"] == "Accepted"]
    assert len(accepted) == 2 and {held[t] for t in accepted} == {"c1:1", "c1:2"}
    (rejected,) = set(tags) - set(accepted)
    assert held[rejected] is None


async def test_an_accepted_start_without_an_ev_is_given_up_and_says_so(tmp_path: Path) -> None:
    async with wired(tmp_path) as (csms, site):
        remote = await csms.send(
            "site1", "RemoteStartTransaction", {"idTag": "REMOTE09", "connectorId": 2}
        )
        await wait_for(lambda: [s["status"] for s in statuses(csms, 2)][-1:] == ["Preparing"])
        site.clock.now_s += PLUG_TIMEOUT_S + 1  # ConnectionTimeOut passes, no EV came
        await wait_for(lambda: [s["status"] for s in statuses(csms, 2)][-1:] == ["Available"])
        await site.plug("c1:2")  # too late: the EV now waits for a card
    assert remote == {"status": "Accepted"}
    last = statuses(csms, 2)[-1]
    assert last["info"] == "no EV plugged in within ConnectionTimeOut"
    assert csms.record.transactions == {} and site.manager.phase("c1:2") is Phase.WAIT_AUTH


async def test_reservations_at_the_same_moment_are_answered_from_the_book(tmp_path: Path) -> None:
    """Two ReserveNow for any connector while only one is free: one is Accepted, the other
    Occupied, and the book holds exactly the accepted one (no Accepted left unreserved)."""
    async with wired(tmp_path) as (csms, site):
        await site.plug("c1:1")  # an EV waits there: one connector is free
        expiry = to_iso(time.time() + 600)
        requests = [{"connectorId": 0, "expiryDate": expiry, "idTag": f"HOLDER{n:02d}",
                     "reservationId": 30 + n} for n in (1, 2)]  # fmt: skip
        answers = await asyncio.gather(*(csms.send("site1", "ReserveNow", r) for r in requests))
        booked = site.manager.reservation_ids()
    accepted = {r["reservationId"] for r, a in zip(requests, answers, strict=True)
                if a["status"] == "Accepted"}  # fmt: skip
    assert sorted(a["status"] for a in answers) == ["Accepted", "Occupied"]
    assert booked == accepted
