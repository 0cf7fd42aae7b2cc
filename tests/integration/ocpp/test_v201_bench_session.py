"""A whole session on OCPP 2.0.1 and 2.1 through the real session side and the bench CSMS
(``edge-controller csms``): a card starts it, the CSMS stops it with RequestStopTransaction,
and the energy the CSMS got in the Ended event is the energy the site recorded; a
RequestStartTransaction goes through the command port and its remoteStartId comes back in the
Started event. The bench CSMS checks every payload with the library's schemas of the version."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.domain.model import Token
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.sessions_store import SessionStore
from tests.integration.ocpp.harness import running_csms, settings_for, wait_for
from tests.integration.ocpp.sessions_site import CARD, live_site, uplink_to

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_card_session_stopped_by_the_csms_reports_the_recorded_energy(
    tmp_path: Path, version: str
) -> None:
    csms = BenchCsms()
    settings = settings_for("ws://127.0.0.1:0", version=[version, "1.6"])
    async with running_csms(csms) as port, live_site(tmp_path) as (site, outbox):
        settings = settings.model_copy(update={"url": f"ws://127.0.0.1:{port}"})
        async with uplink_to(settings, site, outbox, tmp_path) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            assert type(csms.connected["site1"]).__name__.startswith("Bench2")
            await site.plug("c1:1")
            assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
            await wait_for(lambda: len(csms.record.transactions) == 1)
            site.meters["c1:1"].energy_wh = 8765.0
            tx_id = next(iter(csms.record.transactions))
            answer = await csms.send("site1", "RequestStopTransaction", {"transactionId": tx_id})
            assert answer == {"status": "Accepted"}
            await wait_for(lambda: csms.record.transactions[tx_id]["stop"] is not None)
            (record,) = await SessionStore(outbox._db).recent()
    tx = csms.record.transactions[tx_id]
    assert tx["idTag"] == CARD and tx["connectorId"] == 1
    assert (tx["meterStart"], tx["stop"]["meterStop"]) == (
        record.meter_start_wh,
        record.meter_stop_wh,
    )
    assert tx["stop"]["meterStop"] - tx["meterStart"] == record.energy_wh == 7765
    assert tx["stop"]["reason"] == "Remote" and record.stop_reason == "Remote"
    assert tx["seqNos"] == list(range(len(tx["seqNos"])))
    assert csms.record.unknown_transaction_ids == []


async def test_request_start_transaction_carries_its_remote_start_id(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with running_csms(csms) as port, live_site(tmp_path) as (site, outbox):
        settings = settings_for(f"ws://127.0.0.1:{port}", version="2.0.1")
        async with uplink_to(settings, site, outbox, tmp_path) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            request = {
                "evseId": 2,
                "remoteStartId": 31,
                "idToken": {"idToken": CARD, "type": "Central"},
            }
            answer = await csms.send("site1", "RequestStartTransaction", request)
            assert answer == {"status": "Accepted"}
            await site.plug("c1:2")
            await wait_for(lambda: len(csms.record.transactions) == 1)
            # The demo day's local list, in the form it sends on 2.x.
            entry = {"idToken": {"idToken": "STAFF01", "type": "ISO14443"},
                     "idTokenInfo": {"status": "Accepted"}}  # fmt: skip
            listed = {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [entry]}
            # Answered, not refused by the schema (a CALLERROR would raise); Failed, since this
            # harness wires no list store.
            assert await csms.send("site1", "SendLocalList", listed) == {"status": "Failed"}
    started = next(p for _, a, p in csms.record.calls if a == "TransactionEvent")
    assert started["eventType"] == "Started" and started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 31
    assert started["evse"] == {"id": 2, "connectorId": 1}


async def test_the_remote_start_id_is_kept_with_the_session_across_a_restart(
    tmp_path: Path,
) -> None:
    """The uplink that accepted the RequestStartTransaction is gone before the EV arrives (a
    restart of the uplink: only the database is left): the Started event, sent by the next
    one, still carries the remoteStartId, since it is stored with the session's start."""
    csms = BenchCsms()
    async with running_csms(csms) as port, live_site(tmp_path) as (site, outbox):
        settings = settings_for(f"ws://127.0.0.1:{port}", version="2.0.1")
        async with uplink_to(settings, site, outbox, tmp_path) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            request = {
                "evseId": 1,
                "remoteStartId": 4711,
                "idToken": {"idToken": CARD, "type": "Central"},
            }
            assert await csms.send("site1", "RequestStartTransaction", request) == {
                "status": "Accepted"
            }
        await site.plug("c1:1")
        await wait_for(lambda: site.shown("c1:1").session_id is not None)
        # The Started event, queued offline. Only the session's messages are counted: the
        # StartupOfTheDevice security event the first connection queued at its boot is still
        # pending beside it when that connection ended before sending it (a loaded machine).
        assert await outbox.session_backlog("site1", None) == 1
        async with uplink_to(settings, site, outbox, tmp_path):
            await wait_for(lambda: len(csms.record.transactions) == 1)
    started = next(p for _, a, p in csms.record.calls if a == "TransactionEvent")
    assert started["eventType"] == "Started" and started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 4711
    assert started["offline"] is True
