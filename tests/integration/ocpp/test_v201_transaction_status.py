"""OCPP 2.0.1 transactions E13/E14 against the schema-strict CSMS: a TransactionEvent the CSMS
answers with a CALLERROR is tried MessageAttempts times (set by the CSMS through SetVariables),
MessageAttemptInterval x attempts apart, then set aside but kept in the outbox (parked, with
the reason); GetTransactionStatus says whether the transaction runs and whether its events
still wait, with and without a transactionId. Zero schema rejections either way."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.sessions.events import MeterSampled
from edge_controller.domain.snapshot import Availability
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.outbox_events import ended, sampled, started

pytestmark = pytest.mark.integration
ATTEMPTS, INTERVAL_S = 3, 1


def _events(peer: StrictPeer, kind: str) -> list[dict[str, Any]]:
    return [c for c in peer.calls("TransactionEvent") if c["params"]["eventType"] == kind]


async def _ask(peer: StrictPeer, params: dict[str, Any]) -> dict[str, Any]:
    return await peer.ask("site1", "GetTransactionStatus", params)


async def _set_attempts(peer: StrictPeer) -> None:
    items = [
        ("MessageAttempts", str(ATTEMPTS)),
        ("MessageAttemptInterval", str(INTERVAL_S)),
    ]
    data = [{"component": {"name": "OCPPCommCtrlr"},
             "variable": {"name": name, "instance": "TransactionEvent"},
             "attributeValue": value} for name, value in items]  # fmt: skip
    await peer.send("site1", "SetVariables", {"setVariableData": data})
    await wait_for(lambda: len(peer.answers("SetVariables")) == 1)
    results = peer.answers("SetVariables")[0]["result"]["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == ["Accepted", "Accepted"]


async def test_a_refused_event_is_retried_then_parked_and_the_status_says_so(
    tmp_path: Path,
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING, session_id="1")
    refused = {"TransactionEvent/Updated": ATTEMPTS}
    async with (
        strict_peer(protocols="ocpp2.0.1", call_errors=refused) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.0.1",
                                transaction_message_attempts=1)  # fmt: skip
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online)
            await _set_attempts(peer)
            assert await _ask(peer, {}) == {"messagesInQueue": False}
            await outbox.append("site1", started(1, "c1:1", 1000))
            await outbox.append("site1", sampled(1, 4000, "c1:1", power_w=7200))
            uplink.notify_outbox()
            await wait_for(lambda: len(_events(peer, "Updated")) == 1)
            tx_id = _events(peer, "Started")[0]["params"]["transactionInfo"]["transactionId"]
            # Refused once, waiting for its next attempt: still queued, the session runs.
            running = await _ask(peer, {"transactionId": tx_id})
            assert running == {"ongoingIndicator": True, "messagesInQueue": True}
            assert await _ask(peer, {}) == {"messagesInQueue": True}
            await wait_for(lambda: len(_events(peer, "Updated")) == ATTEMPTS)
            await outbox.append("site1", ended(1, 9000, "c1:1"))
            site.set("c1:1", Availability.AVAILABLE, session_id=None)
            uplink.notify_outbox()
            await wait_for(lambda: len(_events(peer, "Ended")) == 1)
            while await outbox.backlog("site1"):  # noqa: ASYNC110 - the Ended's ack written
                await asyncio.sleep(0.02)
            done = await _ask(peer, {"transactionId": tx_id})
            unknown = await _ask(peer, {"transactionId": "77-1795737600000"})
            assert await _ask(peer, {}) == {"messagesInQueue": False}
        parked = await outbox.parked("site1")
        assert await outbox.backlog() == 0
    assert done == {"ongoingIndicator": False, "messagesInQueue": False}
    assert unknown == {"ongoingIndicator": False, "messagesInQueue": False}
    # Kept on record: the refused sample, with its attempts and the CSMS's error.
    assert len(parked) == 1 and isinstance(parked[0].event, MeterSampled)
    assert parked[0].attempts == ATTEMPTS
    assert parked[0].last_error is not None
    assert f"{ATTEMPTS} attempts failed" in parked[0].last_error
    assert "CALLERROR InternalError" in parked[0].last_error
    updates = _events(peer, "Updated")
    assert all(u["params"] == updates[0]["params"] for u in updates)  # the same event each time
    gaps_s = [b["received_s"] - a["received_s"] for a, b in itertools.pairwise(updates)]
    # MessageAttemptInterval x the attempts so far (a loaded machine only waits longer).
    assert gaps_s[0] >= INTERVAL_S * 0.9 and gaps_s[1] >= 2 * INTERVAL_S * 0.9
    # The end carries the energy recorded (its seqNo keeps the parked sample's place).
    end = _events(peer, "Ended")[0]["params"]
    assert end["seqNo"] == 2 and end["transactionInfo"]["transactionId"] == tx_id
    assert peer.invalid() == []
