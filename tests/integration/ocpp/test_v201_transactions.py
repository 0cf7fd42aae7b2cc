"""OCPP 2.0.1 and 2.1 against the schema-strict CSMS (ocpp-rpc strictMode, the official 2.x
schemas): boot, EVSE statuses, TransactionEvents from the outbox (an offline backlog replayed
with ``offline`` and ``seqNo`` without gaps, the energy of the end as recorded), remote start
and stop, Authorize, and a refused token reaching the session side. Zero schema rejections.

Transaction cases of OCPP 2.0.1 (E) here: E04 transactions that ran while the station was
offline and E12 their events sent after the reconnect (``offline``, seqNo without gaps); E13 and
E14 are in ``test_v201_transaction_status``.
Authorization cases of OCPP 2.0.1 (C) here: C01 a card's ISO14443 token authorized by the
CSMS, C02 a free-vend session (NoAuthorization, started by plugging in), C05 a remote start the
station authorizes first when AuthorizeRemoteStart is set; C11 and the local list (D01, D02)
are in ``test_v201_device_model``, C16 (master pass) in ``test_v201_master_pass``, the offline
rules (C10, C12-C15) in the session side's authorization cases."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.commands import Origin, StartReason, StartSession, StopReason
from edge_controller.domain.problems import ProblemKind, ProblemReported
from edge_controller.domain.sessions.authorization import AuthStatus
from edge_controller.domain.sessions.events import IdToken, SessionStarted, TokenType
from edge_controller.domain.snapshot import Availability
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.service import OcppUplink
from tests.integration.ocpp.harness import (
    FakeSite,
    auth_store,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.outbox_events import T0_S, ended, sampled, started

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]


def _events(peer: Any) -> list[dict[str, Any]]:
    return [c["params"] for c in peer.calls("TransactionEvent")]


@pytest.mark.parametrize(("version", "subprotocol"), VERSIONS)
async def test_e04_e12_offline_backlog_replays_in_order_with_gapless_seq_no(
    tmp_path: Path, version: str, subprotocol: str
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.FAULTED, fault_text="contactor welded")
    async with (
        strict_peer(protocols=subprotocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        # Two sessions on two EVSEs, interleaved, queued while no CSMS was reachable.
        await outbox.append("site1", started(1, "c1:1", 1000))
        await outbox.append("site1", started(2, "c2:1", 5000, id_tag="11223344"))
        await outbox.append("site1", replace(sampled(1, 4000, "c1:1", power_w=7200),
                                             phases_used=3))  # fmt: skip
        await outbox.append("site1", sampled(2, 6000, "c2:1", power_w=0))
        report = ProblemReported("P-1", "c2:1", ProblemKind.DAMAGED, "cut", "driver", T0_S)
        await outbox.append("site1", report)
        await outbox.append("site1", sampled(1, 8000, "c1:1", at_s=T0_S + 120, power_w=7100))
        await outbox.append("site1", ended(1, 13000, "c1:1", reason=StopReason.EV_DISCONNECTED))
        await outbox.append("site1", ended(2, 7000, "c2:1", reason=StopReason.REMOTE,
                                           meter_start_wh=5000))  # fmt: skip
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=[version, "1.6"])
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1, "c2": 1}) as up:
            await wait_for(lambda: len(_events(peer)) == 7)
            await wait_for(lambda: len(peer.calls("StatusNotification")) == 2)
            # The CSMS notes a CALL before it answers: wait until the sender took every answer.
            # 8 and the StartupOfTheDevice security event the uplink queued at its start
            await wait_for(lambda: up.sessions["site1"].sender.sent == 9)
        assert await outbox.backlog() == 0
    assert peer.invalid() == []
    assert [e["protocol"] for e in peer.events if e["event"] == "connect"] == [subprotocol]

    # The problem report went through the outbox as a hard-wired Problem notification.
    ((problem,),) = [c["params"]["eventData"] for c in peer.calls("NotifyEvent")]
    assert problem["component"] == {"name": "EVSE", "evse": {"id": 2}}
    assert (problem["variable"], problem["techCode"]) == ({"name": "Problem"}, "damaged")
    assert problem["techInfo"] == "P-1 (driver): cut" and problem["eventId"] == 1
    boot = peer.calls("BootNotification")[0]["params"]
    assert boot["reason"] == "PowerUp" and boot["chargingStation"]["vendorName"]
    statuses = {c["params"]["evseId"]: c["params"] for c in peer.calls("StatusNotification")}
    assert statuses[1]["connectorStatus"] == "Available"
    assert statuses[2]["connectorStatus"] == "Faulted"

    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in _events(peer):
        by_tx[event["transactionInfo"]["transactionId"]].append(event)
    assert len(by_tx) == 2
    _check_sessions(*by_tx.values())


def _check_sessions(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    for events in (first, second):
        assert [e["seqNo"] for e in events] == list(range(len(events)))
        assert all(e["offline"] is True for e in events)
        assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    assert [e["eventType"] for e in first] == ["Started", "Updated", "Updated", "Ended"]
    assert first[0]["evse"] == {"id": 1, "connectorId": 1}
    assert first[0]["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}
    assert first[0]["triggerReason"] == "Authorized"
    assert first[1]["transactionInfo"]["chargingState"] == "Charging"
    assert first[1]["triggerReason"] == "MeterValuePeriodic"
    assert first[1]["numberOfPhasesUsed"] == 3
    assert second[1]["transactionInfo"]["chargingState"] == "SuspendedEV"
    # Energy: the registers sent are the ones recorded; Ended - Started = the session's Wh.
    start_wh = _register(first[0], "Transaction.Begin")
    end_wh = _register(first[-1], "Transaction.End")
    assert (start_wh, end_wh, end_wh - start_wh) == (1000, 13000, 12000)
    assert (
        _register(second[-1], "Transaction.End") - _register(second[0], "Transaction.Begin") == 2000
    )
    assert first[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert first[-1]["triggerReason"] == "EVCommunicationLost"
    assert second[-1]["transactionInfo"]["stoppedReason"] == "Remote"
    assert second[-1]["triggerReason"] == "RemoteStop"
    assert second[-1]["evse"]["id"] == 2


def _register(event: dict[str, Any], context: str) -> float:
    return next(
        float(v["value"])
        for mv in event["meterValue"]
        for v in mv["sampledValue"]
        if v.get("context") == context and v["measurand"] == "Energy.Active.Import.Register"
    )


@pytest.mark.parametrize(("version", "subprotocol"), VERSIONS)
async def test_c01_f01_f03_remote_start_and_stop_go_through_the_command_port(
    tmp_path: Path, version: str, subprotocol: str
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c1:2", Availability.AVAILABLE)
    async with (
        strict_peer(protocols=subprotocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}) as uplink:
            await wait_for(lambda: uplink.online)
            start = {
                "evseId": 2,
                "remoteStartId": 77,
                "idToken": {"idToken": "CAFE01", "type": "Central"},
            }
            await peer.send("site1", "RequestStartTransaction", start)
            await wait_for(lambda: len(peer.answers("RequestStartTransaction")) == 1)
            assert peer.answers("RequestStartTransaction")[0]["result"] == {"status": "Accepted"}
            command = site.commands[-1]
            assert isinstance(command, StartSession)
            assert (command.connector_id, command.id_tag, command.origin) == (
                "c1:2",
                "CAFE01",
                Origin.CSMS,
            )
            assert command.reason is StartReason.REMOTE_START
            assert command.remote_start_id == 77
            # The session side starts it: its Started event carries the remoteStartId.
            now_s = uplink.links["site1"].now_s()
            token = IdToken("CAFE01", TokenType.CENTRAL)
            start = SessionStarted(1, "c1:2", now_s, 2000, token, remote_start_id=77)
            await outbox.append("site1", start)
            uplink.notify_outbox()
            await wait_for(lambda: len(_events(peer)) == 1)
            site.set("c1:2", Availability.CHARGING, session_id="1")
            tx_id = _events(peer)[0]["transactionInfo"]["transactionId"]
            await peer.send("site1", "RequestStopTransaction", {"transactionId": "999-1"})
            await peer.send("site1", "RequestStopTransaction", {"transactionId": tx_id})
            await wait_for(lambda: len(peer.answers("RequestStopTransaction")) == 2)
            # A card tap asks the CSMS.
            entry = await uplink.authorize("AABBCCDD")
    started_event = _events(peer)[0]
    assert started_event["transactionInfo"]["remoteStartId"] == 77
    assert started_event["triggerReason"] == "RemoteStart"
    assert started_event["idToken"] == {"idToken": "CAFE01", "type": "Central"}
    assert "offline" not in started_event
    answers = [a["result"]["status"] for a in peer.answers("RequestStopTransaction")]
    assert answers == ["Rejected", "Accepted"]
    stop = site.commands[-1]
    assert (stop.connector_id, stop.reason) == ("c1:2", StopReason.REMOTE)  # type: ignore[union-attr]
    assert entry is not None and entry.status is AuthStatus.ACCEPTED
    assert peer.calls("Authorize")[0]["params"]["idToken"] == {
        "idToken": "AABBCCDD",
        "type": "ISO14443",
    }
    assert peer.invalid() == []


async def test_an_invalid_token_in_the_started_answer_reaches_the_session_side(
    tmp_path: Path,
) -> None:
    site = FakeSite()
    async with (
        strict_peer("Invalid", protocols="ocpp2.0.1") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        await outbox.append("site1", started(1, "c1:1"))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.0.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: len(site.confirmed) == 1)
            assert await uplink.authorize("AABBCCDD") is not None
    assert site.confirmed[0][0] == 1 and site.confirmed[0][2] == "Invalid"
    assert peer.invalid() == []


async def test_an_invalid_token_in_an_updated_answer_reaches_the_session_side(
    tmp_path: Path,
) -> None:
    """The CSMS may withdraw a running session's authorisation in any TransactionEvent answer:
    an Invalid idTokenInfo in the answer to an Updated reaches the session side as one in the
    Started answer does (it stops the session when StopTxOnInvalidId is true)."""
    site = FakeSite()
    async with (
        strict_peer(protocols="ocpp2.0.1", updated_status="Invalid") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        await outbox.append("site1", started(1, "c1:1"))
        await outbox.append("site1", sampled(1, 4000, "c1:1", power_w=7200))
        await outbox.append("site1", ended(1, 9000, "c1:1"))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.0.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 3)
            # Every answer taken in (a security event queued at the start may go too).
            while await outbox.backlog("site1"):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    remote = site.confirmed[0][1]
    # The start was taken, the answer to the update refused the token (the end's says nothing).
    assert site.confirmed == [(1, remote, "Accepted"), (1, remote, "Invalid")]
    assert peer.invalid() == []


async def test_one_station_per_charger_each_with_its_own_evses(tmp_path: Path) -> None:
    """Topology per_charger on 2.0.1: each charger is a station of its own, its connectors
    its EVSEs from 1, and each station's transactions go to its own connection."""
    site = FakeSite()
    for cid in ("c1:1", "c1:2", "c2:1"):
        site.set(cid, Availability.AVAILABLE)
    async with (
        strict_peer(protocols="ocpp2.0.1") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        await outbox.append("c1", started(1, "c1:2"))
        await outbox.append("c2", started(2, "c2:1"))
        await outbox.append("c2", ended(2, 2500, "c2:1"))
        settings = settings_for(
            f"ws://127.0.0.1:{peer.port}", version="2.0.1", topology="per_charger"
        )
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2, "c2": 1}):
            await wait_for(lambda: len(_events(peer)) == 3)
            await wait_for(lambda: len(peer.calls("StatusNotification")) == 3)
    assert peer.invalid() == []
    by_identity = {(c["identity"], c["params"]["eventType"]): c["params"]
                   for c in peer.calls("TransactionEvent")}  # fmt: skip
    assert by_identity[("c1", "Started")]["evse"] == {"id": 2, "connectorId": 1}
    assert by_identity[("c2", "Started")]["evse"] == {"id": 1, "connectorId": 1}
    assert by_identity[("c2", "Ended")]["seqNo"] == 1
    evses = sorted((c["identity"], c["params"]["evseId"]) for c in peer.calls("StatusNotification"))
    assert evses == [("c1", 1), ("c1", 2), ("c2", 1)]
    assert {c["identity"] for c in peer.calls("BootNotification")} == {"c1", "c2"}


@dataclass
class _Listing:
    """A 2.x uplink whose CSMS keeps the local list: its outbox and the list."""

    uplink: OcppUplink
    outbox: Outbox
    lists: AuthStore
    peer: StrictPeer

    async def started(self, command: StartSession, token_type: TokenType) -> None:
        """The session side starts the session ``command`` asked for: its Started is sent."""
        began = SessionStarted(1, "c1:1", self.uplink.links["site1"].now_s(), 10,
                               IdToken(command.id_tag, token_type),
                               remote_start_id=command.remote_start_id)  # fmt: skip
        await self.outbox.append("site1", began)
        self.uplink.notify_outbox()
        await wait_for(lambda: len(_events(self.peer)) == 1)


@asynccontextmanager
async def _listing(
    tmp_path: Path, version: str, subprotocol: str
) -> AsyncIterator[tuple[FakeSite, StrictPeer, _Listing]]:
    """A strict CSMS and an online uplink whose local list is the database's, c1:1 free."""
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with (
        strict_peer(protocols=subprotocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        lists = auth_store(outbox)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(
            settings, site, outbox, tmp_path, {"c1": 1}, auth_lists=lists
        ) as uplink:
            await wait_for(lambda: uplink.online)
            yield site, peer, _Listing(uplink, outbox, lists, peer)


@pytest.mark.parametrize(
    ("version", "subprotocol", "token"),
    [
        ("2.0.1", "ocpp2.0.1", "0f6c1a2e-5b7d-4c3e-9a8b-1d2e3f4a5b6c"),  # a UUID: 36 characters
        ("2.1", "ocpp2.1", "EMSP." + "A1B2C3D4" * 30),  # 245 characters
    ],
)
async def test_id_tokens_as_long_as_the_version_allows_are_taken(
    tmp_path: Path, version: str, subprotocol: str, token: str
) -> None:
    """1.6 keeps idTags to 20 characters; a 2.0.1 idToken holds 36 and a 2.1 one 255: a remote
    start and a local list entry take them whole (never cut, a cut id could be someone
    else's), and the Started event carries the token as given."""
    async with _listing(tmp_path, version, subprotocol) as (site, peer, link):
        central = {"idToken": token, "type": "Central"}
        start = {"evseId": 1, "remoteStartId": 5, "idToken": central}
        await peer.send("site1", "RequestStartTransaction", start)
        entry = {"idToken": {"idToken": token, "type": "eMAID"},
                 "idTokenInfo": {"status": "Accepted"}}  # fmt: skip
        listed = {"versionNumber": 3, "updateType": "Full", "localAuthorizationList": [entry]}
        await peer.send("site1", "SendLocalList", listed)
        await wait_for(lambda: len(peer.answers("SendLocalList")) == 1)
        command = site.commands[-1]
        assert isinstance(command, StartSession) and command.id_tag == token.upper()
        await link.started(command, TokenType.CENTRAL)
        listed_entry = await link.lists.local_entry(token.upper())
    assert peer.answers("RequestStartTransaction")[0]["result"] == {"status": "Accepted"}
    assert peer.answers("SendLocalList")[0]["result"] == {"status": "Accepted"}
    assert listed_entry is not None and listed_entry.status is AuthStatus.ACCEPTED
    assert _events(peer)[0]["idToken"] == {"idToken": token.upper(), "type": "Central"}
    assert _events(peer)[0]["transactionInfo"]["remoteStartId"] == 5
    assert peer.invalid() == []


@pytest.mark.parametrize(("version", "subprotocol"), VERSIONS)
async def test_a_key_code_token_is_listed_started_and_sent_as_a_key_code(
    tmp_path: Path, version: str, subprotocol: str
) -> None:
    """A KeyCode idToken from the CSMS: a local list entry of that type is taken, a remote
    start with one reaches the session side as a key code, and the Started event carries it
    as a KeyCode with the start's remoteStartId."""
    code = {"idToken": "4711", "type": "KeyCode"}
    async with _listing(tmp_path, version, subprotocol) as (site, peer, link):
        entry = {"idToken": code, "idTokenInfo": {"status": "Accepted"}}
        listed = {"versionNumber": 4, "updateType": "Full", "localAuthorizationList": [entry]}
        await peer.send("site1", "SendLocalList", listed)
        await wait_for(lambda: len(peer.answers("SendLocalList")) == 1)
        start = {"evseId": 1, "remoteStartId": 9, "idToken": code}
        await peer.send("site1", "RequestStartTransaction", start)
        await wait_for(lambda: len(peer.answers("RequestStartTransaction")) == 1)
        command = site.commands[-1]
        assert isinstance(command, StartSession) and command.key_code
        await link.started(command, TokenType.KEY_CODE)
        listed_entry = await link.lists.local_entry("4711", key_code=True)
    assert peer.answers("SendLocalList")[0]["result"] == {"status": "Accepted"}
    assert peer.answers("RequestStartTransaction")[0]["result"] == {"status": "Accepted"}
    assert listed_entry is not None and listed_entry.status is AuthStatus.ACCEPTED
    (event,) = _events(peer)
    assert event["idToken"] == code and event["triggerReason"] == "RemoteStart"
    assert event["transactionInfo"]["remoteStartId"] == 9
    assert peer.invalid() == []


async def test_c02_a_free_vend_session_starts_without_authorization(tmp_path: Path) -> None:
    async with (
        strict_peer(protocols="ocpp2.0.1") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.0.1")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online)
            free = replace(started(1, "c1:1"), id_token=IdToken("site-a", TokenType.FREE_VEND))
            await outbox.append("site1", free)
            uplink.notify_outbox()
            await wait_for(lambda: len(_events(peer)) == 1)
    (event,) = _events(peer)
    assert event["idToken"] == {"idToken": "site-a", "type": "NoAuthorization"}
    assert event["triggerReason"] == "CablePluggedIn"
    assert peer.calls("Authorize") == []
    assert peer.invalid() == []


@pytest.mark.parametrize("authorize_first", [False, True])
async def test_c05_a_remote_start_is_authorized_first_when_the_csms_says_so(
    tmp_path: Path, authorize_first: bool
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with (
        strict_peer(protocols="ocpp2.0.1") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.0.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online)
            flag = {"component": {"name": "AuthCtrlr"},
                    "variable": {"name": "AuthorizeRemoteStart"},
                    "attributeValue": str(authorize_first).lower()}  # fmt: skip
            await peer.send("site1", "SetVariables", {"setVariableData": [flag]})
            await wait_for(lambda: len(peer.answers("SetVariables")) == 1)
            start = {"evseId": 1, "remoteStartId": 5,
                     "idToken": {"idToken": "CAFE01", "type": "Central"}}  # fmt: skip
            await peer.send("site1", "RequestStartTransaction", start)
            await wait_for(lambda: len(peer.answers("RequestStartTransaction")) == 1)
    (set_answer,) = peer.answers("SetVariables")
    assert set_answer["result"]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    command = site.commands[-1]
    assert isinstance(command, StartSession) and command.authorize_first is authorize_first
    assert peer.invalid() == []
