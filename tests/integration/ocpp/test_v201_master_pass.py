"""OCPP 2.0.1 C16, stop with a master pass, against the schema-strict CSMS in 2.0.1 and 2.1
mode and the real session side: the CSMS sets AuthCtrlr.MasterPassGroupId; a card its Authorize
answer puts in that group stops another driver's session (stoppedReason MasterPass, the energy
as recorded) and starts none. The value is kept across a restart and applied again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.state import Phase
from edge_controller.storage.database import Database
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.uplink.v201.render import session_of
from tests.integration.ocpp.harness import IDENTITY, settings_for, wait_for
from tests.integration.ocpp.sessions_site import CARD, live_site, uplink_to
from tests.integration.ocpp.strict_peer import strict_peer
from tests.integration.ocpp.test_v201_device_model import get, item, set_

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]
MASTER = "0A11CE00"  # the CSMS puts it in group MASTERS
MASTER_PASS = item("AuthCtrlr", "MasterPassGroupId")


def _transaction_events(peer: Any) -> list[dict[str, Any]]:
    return [c["params"] for c in peer.calls("TransactionEvent")]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_c16_a_master_pass_stops_any_session_and_starts_none(
    tmp_path: Path, version: str, protocol: str
) -> None:
    csms = CsmsAuthorization()
    async with (
        strict_peer(protocols=protocol, group_ids={MASTER: "MASTERS"}) as peer,
        live_site(tmp_path, csms=csms) as (site, outbox),
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with uplink_to(settings, site, outbox, tmp_path, authorization=csms) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            too_long = MASTER_PASS | {"attributeValue": "G" * 37}
            assert await set_(peer, too_long) == ["Rejected"]
            assert await set_(peer, MASTER_PASS | {"attributeValue": "MASTERS"}) == ["Accepted"]
            assert await get(peer, MASTER_PASS) == [("Accepted", "MASTERS")]
            await wait_for(lambda: site.manager.auth.policy.master_pass_group_id == "MASTERS")
            await site.plug("c1:1")
            assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
            site.meters["c1:1"].energy_wh += 6400
            stopped = await site.manager.on_token(Token(MASTER), "c1:1")
            assert stopped.accepted and stopped.master_pass
            assert site.manager.phase("c1:1") is Phase.FINISHED
            await site.plug("c1:2")
            refused = await site.manager.on_token(Token(MASTER), "c1:2")
            assert not refused.accepted and site.manager.phase("c1:2") is Phase.WAIT_AUTH
            uplink.notify_outbox()
            while await outbox.backlog(IDENTITY):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    (record,) = await _records(tmp_path)
    events = _transaction_events(peer)
    assert [e["eventType"] for e in events] == ["Started", "Ended"]
    assert {session_of(e["transactionInfo"]["transactionId"]) for e in events} == {record[0]}
    end = events[-1]
    assert end["transactionInfo"]["stoppedReason"] == "MasterPass"
    assert end["triggerReason"] == "StopAuthorized"
    assert end["idToken"] == {"idToken": MASTER, "type": "ISO14443"}
    assert _register(end, "Transaction.End") - _register(events[0], "Transaction.Begin") == 6400
    assert record[1:] == (6400, "MasterPass")
    asked = [c["params"]["idToken"]["idToken"] for c in peer.calls("Authorize")]
    assert asked.count(MASTER) >= 1 and CARD not in asked  # the card is on the local list
    assert peer.invalid() == []


async def _records(tmp_path: Path) -> list[tuple[int, int, str | None]]:
    """(local id, Wh charged, stop reason) of every session the database holds."""
    db = await Database.open(tmp_path / "edge.db")
    try:
        found = await SessionStore(db).recent()
    finally:
        await db.close()
    return [(r.local_id, (r.meter_stop_wh or 0) - r.meter_start_wh, r.stop_reason) for r in found]


def _register(event: dict[str, Any], context: str) -> int:
    return next(
        round(float(v["value"]))
        for m in event["meterValue"]
        for v in m["sampledValue"]
        if v.get("context") == context and v.get("measurand") == "Energy.Active.Import.Register"
    )


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_c16_the_master_pass_group_is_kept_across_a_restart(
    tmp_path: Path, version: str, protocol: str
) -> None:
    async with strict_peer(protocols=protocol) as peer:
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with (
            live_site(tmp_path) as (site, outbox),
            uplink_to(settings, site, outbox, tmp_path) as uplink,
        ):
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            assert await set_(peer, MASTER_PASS | {"attributeValue": "FLEET-M"}) == ["Accepted"]
        stored = json.loads((tmp_path / f"ocpp-{IDENTITY}.json").read_text(encoding="utf-8"))
        assert stored["configuration"]["AuthCtrlr.MasterPassGroupId"] == "FLEET-M"
        async with live_site(tmp_path) as (again, outbox):
            assert again.manager.auth.policy.master_pass_group_id is None  # until the uplink
            async with uplink_to(settings, again, outbox, tmp_path):
                await wait_for(lambda: again.manager.auth.policy.master_pass_group_id == "FLEET-M")
                await wait_for(lambda: len(peer.calls("BootNotification")) == 2)
                assert await get(peer, MASTER_PASS) == [("Accepted", "FLEET-M")]
                assert await set_(peer, MASTER_PASS | {"attributeValue": ""}) == ["Accepted"]
                await wait_for(lambda: again.manager.auth.policy.master_pass_group_id is None)
    assert peer.invalid() == []
