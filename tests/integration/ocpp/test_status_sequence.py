"""The StatusNotifications a CSMS sees, over a real websocket to the schema-strict peer
(tests/peers), for connectors living through a card before the EV, a stop with the cable still
in, a start given up after ConnectionTimeOut and a charger going silent while an EV waits:
the sequence is the expected one and no change the OCPP 1.6 table forbids is ever sent."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.commands import Origin, StartSession
from edge_controller.domain.model import Token
from edge_controller.domain.snapshot import Availability
from tests.integration.ocpp.harness import settings_for, wait_for
from tests.integration.ocpp.sessions_site import CARD, PLUG_TIMEOUT_S, live_site, uplink_to
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
# The table as written down from the specification for the unit tests (not the code's copy).
TABLE = Path(__file__).parents[2] / "unit" / "domain" / "sessions" / "ocpp16_status_table.yaml"
ALLOWED = {k: set(v) for k, v in yaml.safe_load(TABLE.read_text())["allowed"].items()}


def sent(peer: StrictPeer, connector: int) -> list[dict[str, Any]]:
    return [c["params"] for c in peer.calls("StatusNotification")
            if c["params"]["connectorId"] == connector]  # fmt: skip


def last(peer: StrictPeer, connector: int) -> str | None:
    found = sent(peer, connector)
    return found[-1]["status"] if found else None


async def test_every_status_change_sent_is_one_the_table_allows(tmp_path: Path) -> None:
    async with (
        strict_peer() as peer,
        live_site(tmp_path) as (site, outbox),
        uplink_to(settings_for(f"ws://127.0.0.1:{peer.port}"), site, outbox, tmp_path),
    ):
        await wait_for(lambda: last(peer, 1) == last(peer, 2) == "Available")
        # c1:1: a card before the EV, a charge, a stop with the card and the cable still in.
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
        await wait_for(lambda: last(peer, 1) == "Preparing")
        await site.plug("c1:1", Availability.CHARGING)
        await wait_for(lambda: last(peer, 1) == "Charging")
        site.base.set("c1:1", Availability.PREPARING)  # the charger side: no offer any more
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
        await wait_for(lambda: last(peer, 1) == "Finishing")
        await site.unplug("c1:1")
        await wait_for(lambda: last(peer, 1) == "Available")
        # c1:2: a CSMS start that no EV follows, given up after ConnectionTimeOut.
        start = StartSession("c1:2", "REMOTE0001", Origin.CSMS)
        assert (await site.decide(start)).ok
        await wait_for(lambda: last(peer, 2) == "Preparing")
        site.clock.now_s += PLUG_TIMEOUT_S + 1
        await wait_for(lambda: last(peer, 2) == "Available")
        # Then an EV waits there while its charger goes silent and comes back.
        await site.plug("c1:2")
        await wait_for(lambda: last(peer, 2) == "Preparing")
        site.base.set("c1:2", Availability.UNAVAILABLE)
        await wait_for(lambda: last(peer, 2) == "Unavailable")
        site.base.set("c1:2", Availability.PREPARING)
        await wait_for(lambda: last(peer, 2) == "Preparing")
    first = [s["status"] for s in sent(peer, 1)]
    second = [s["status"] for s in sent(peer, 2)]
    assert first == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    assert second == ["Available", "Preparing", "Available", "Preparing", "Finishing",
                      "Unavailable", "Preparing"]  # fmt: skip
    for statuses in (first, second):
        for before, after in itertools.pairwise(statuses):
            assert after in ALLOWED[before], f"{before} -> {after} sent"
    timed_out = sent(peer, 2)[2]
    assert timed_out["info"] == "no EV plugged in within ConnectionTimeOut"
    assert peer.invalid() == []
