"""TxStartPoint EVConnected and Authorized against the schema-strict CSMS (the official 2.0.1
and 2.1 schemas): the CSMS sets it, a plug-in starts the transaction without an idToken, the
card's session joins it (OCPP 2.0.1 E02: Updated, triggerReason Authorized), and an EV that
leaves unauthorised ends it with nothing billed (E01 with the cable first); a card before the
plug-in starts it with the idToken, the plug-in's session joins it (E03: Updated,
CablePluggedIn), and an authorisation whose EV never comes ends at EVConnectionTimeOut. The
session side and the uplink run on one database, as in the daemon. On a 1.6 connection the same
site sends what 1.6 always sent."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.commands import ChangeSessionRules
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.security import SecurityEventRaised
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.events import OutboxEvent
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.domain.snapshot import Availability
from edge_controller.services.sessions.manager import SessionChannels, SessionManager
from edge_controller.services.sessions.setup import SessionOptions, build_session_manager
from edge_controller.storage.outbox import Outbox
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    database_of,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, Csms, Gate, status

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]
CARD = "AABBCCDD"
REGISTER = "Energy.Active.Import.Register"


def _manager(
    outbox: Outbox, meters: dict[str, CounterMeter], gate: Gate, clock: Clock | None = None,
    connectors: tuple[str, ...] = ("c1:1", "c2:1"),
) -> SessionManager:  # fmt: skip
    csms = Csms(answers={CARD: AuthEntry(CARD, AuthStatus.ACCEPTED)})
    options = SessionOptions(timeouts=Timeouts(plug_timeout_s=60.0))
    return build_session_manager(
        database_of(outbox), connectors, gate, meters,
        channels=SessionChannels(csms=csms), route=lambda _cid: IDENTITY, options=options,
        clock=clock or time.time,
    )  # fmt: skip


async def _delivered(outbox: Outbox, timeout_s: float = 30.0) -> None:
    """Wait until every session event was answered by the CSMS (acked in the outbox)."""
    deadline = time.monotonic() + timeout_s
    while await _left(outbox):
        assert time.monotonic() < deadline, "events not delivered in time"
        await asyncio.sleep(0.05)


async def _left(outbox: Outbox) -> list[OutboxEvent]:
    """The events not delivered but the uplink's own StartupOfTheDevice (queued after them)."""
    found = [m.event for m in await outbox.peek_many(IDENTITY, limit=10)]
    return [e for e in found if not isinstance(e, SecurityEventRaised | None)]


def _by_transaction(peer: StrictPeer) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in peer.calls("TransactionEvent"):
        found[call["params"]["transactionInfo"]["transactionId"]].append(call["params"])
    return found


def _check_left_unauthorised(events: list[dict[str, Any]]) -> None:
    plugged, gone = events
    assert (plugged["eventType"], plugged["triggerReason"], gone["eventType"]) == (
        "Started", "CablePluggedIn", "Ended",
    )  # fmt: skip
    assert gone["triggerReason"] == "EVCommunicationLost"
    assert gone["transactionInfo"] == {
        "transactionId": plugged["transactionInfo"]["transactionId"],
        "chargingState": "Idle",
        "stoppedReason": "EVDisconnected",
    }
    assert not {"idToken", "meterValue"} & (plugged.keys() | gone.keys())


async def _set_tx_point(peer: StrictPeer, name: str, value: str) -> None:
    """The CSMS sets a TxCtrlr point; the station accepts it."""
    point = {"component": {"name": "TxCtrlr"}, "variable": {"name": name}}
    data = {"setVariableData": [point | {"attributeValue": value}]}
    answer = await peer.ask(IDENTITY, "SetVariables", data)
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"


def _register(event: dict[str, Any], context: str) -> int:
    (value,) = [
        v["value"]
        for mv in event["meterValue"]
        for v in mv["sampledValue"]
        if v["context"] == context and v["measurand"] == REGISTER
    ]
    return round(float(value))


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_e02_the_transaction_starts_at_the_plug_in_and_the_session_joins_it(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site, gate = FakeSite(), Gate()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.AVAILABLE)
    meters = {"c1:1": CounterMeter(5000.0), "c2:1": CounterMeter(9000.0)}
    async with (
        strict_peer(protocols=protocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        manager = _manager(outbox, meters, gate)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1, "c2": 1}):
            await wait_for(lambda: len(peer.calls("StatusNotification")) == 2)
            await _set_tx_point(peer, "TxStartPoint", "EVConnected")
            # The stored rules at the start (PowerPathClosed), then the CSMS's change.
            first, rule = [c for c in site.commands if isinstance(c, ChangeSessionRules)]
            assert (first.start_at_plug, rule.start_at_plug) == (False, True)
            manager.change_rules(rule)  # the command port's work in the daemon

            await manager.on_charger_status("c1:1", status(CpState.B))
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 1)
            assert gate.allowed("c1:1") is not True  # plugged, not authorised: no current
            meters["c1:1"].energy_wh = 5002.0  # the register before any charging
            assert (await manager.on_token(Token(CARD), "c1:1")).accepted
            assert gate.allowed("c1:1") is True
            meters["c1:1"].energy_wh = 12002.0
            await manager.on_charger_status("c1:1", status(CpState.A))
            # An EV that leaves unauthorised: its transaction ends, no session, nothing billed.
            await manager.on_charger_status("c2:1", status(CpState.B))
            await manager.on_charger_status("c2:1", status(CpState.A))
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 5)
            await _delivered(outbox)
        record = manager.recorder.store
        sessions = await record.recent()
    assert peer.invalid() == []
    assert gate.allowed("c2:1") is not True

    (charged, left) = _by_transaction(peer).values()
    assert [e["seqNo"] for e in charged] == [0, 1, 2] and [e["seqNo"] for e in left] == [0, 1]
    started, authorized, ended = charged
    assert (started["eventType"], started["triggerReason"]) == ("Started", "CablePluggedIn")
    assert started["transactionInfo"]["chargingState"] == "EVConnected"
    assert "idToken" not in started and "meterValue" not in started
    assert (authorized["eventType"], authorized["triggerReason"]) == ("Updated", "Authorized")
    assert authorized["idToken"] == {"idToken": CARD, "type": "ISO14443"}
    assert (ended["eventType"], ended["transactionInfo"]["stoppedReason"]) == (
        "Ended", "EVDisconnected",
    )  # fmt: skip
    # Billed: the register difference from the authorisation, as the session recorded it.
    billed_wh = _register(ended, "Transaction.End") - _register(authorized, "Transaction.Begin")
    (session,) = sessions
    assert billed_wh == session.energy_wh == 7000
    assert (session.meter_start_wh, session.id_tag) == (5002, CARD)
    assert started["transactionInfo"]["transactionId"].startswith(f"{session.local_id}-")

    _check_left_unauthorised(left)


async def test_on_1_6_the_plug_in_sends_nothing_and_the_session_is_as_always(
    tmp_path: Path,
) -> None:
    """The rule on (a 2.x CSMS set it), the connection now on 1.6: the plug-in's transaction
    has no 1.6 message; the session's StartTransaction and StopTransaction are as before."""
    site, gate = FakeSite(), Gate()
    meters = {"c1:1": CounterMeter(5000.0), "c2:1": CounterMeter(9000.0)}
    async with (
        strict_peer(protocols="ocpp1.6") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        manager = _manager(outbox, meters, gate)
        manager.change_rules(ChangeSessionRules(start_at_plug=True))
        await manager.on_charger_status("c2:1", status(CpState.B))
        await manager.on_charger_status("c2:1", status(CpState.A))
        await manager.on_charger_status("c1:1", status(CpState.B))
        await manager.on_token(Token(CARD), "c1:1")
        meters["c1:1"].energy_wh = 6500.0
        await manager.on_charger_status("c1:1", status(CpState.A))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="1.6")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1, "c2": 1}):
            await _delivered(outbox)
    assert peer.invalid() == []
    (start,) = [c["params"] for c in peer.calls("StartTransaction")]
    (stop,) = [c["params"] for c in peer.calls("StopTransaction")]
    assert (start["connectorId"], start["idTag"], start["meterStart"]) == (1, CARD, 5000)
    assert stop["meterStop"] - start["meterStart"] == 1500
    assert peer.calls("MeterValues") == []


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_e03_the_transaction_starts_at_the_card_and_ends_when_no_ev_comes(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site, gate, clock = FakeSite(), Gate(), Clock(time.time())
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.AVAILABLE)
    meters = {"c1:1": CounterMeter(5000.0), "c2:1": CounterMeter(9000.0)}
    async with (
        strict_peer(protocols=protocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        manager = _manager(outbox, meters, gate, clock)
        manager.change_rules(ChangeSessionRules(start_at_authorization=True, plug_timeout_s=30))
        await manager.on_token(Token(CARD), "c1:1")
        clock.now_s += 10
        await manager.on_charger_status("c1:1", status(CpState.B))
        assert gate.allowed("c1:1") is True
        meters["c1:1"].energy_wh = 6200.0
        clock.now_s += 600
        await manager.on_token(Token(CARD), "c1:1")  # the same card stops it
        await manager.on_token(Token(CARD), "c2:1")  # and no EV comes here
        clock.now_s += 31
        await manager.tick()
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1, "c2": 1}):
            await _delivered(outbox)
        (session,) = await manager.recorder.store.recent()
    assert peer.invalid() == []

    charged, waited = _by_transaction(peer).values()
    assert [e["seqNo"] for e in charged] == [0, 1, 2] and [e["seqNo"] for e in waited] == [0, 1]
    started, plugged, ended = charged
    assert (started["eventType"], started["triggerReason"]) == ("Started", "Authorized")
    assert started["transactionInfo"]["chargingState"] == "Idle"
    assert started["idToken"] == {"idToken": CARD, "type": "ISO14443"}
    assert (plugged["eventType"], plugged["triggerReason"]) == ("Updated", "CablePluggedIn")
    assert plugged["transactionInfo"]["chargingState"] == "EVConnected"
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == (
        "StopAuthorized", "Local",
    )  # fmt: skip
    billed_wh = _register(ended, "Transaction.End") - _register(plugged, "Transaction.Begin")
    assert billed_wh == session.energy_wh == 1200
    first, timed_out = waited
    assert (first["eventType"], first["idToken"]["idToken"]) == ("Started", CARD)
    assert (timed_out["eventType"], timed_out["triggerReason"]) == ("Ended", "EVConnectTimeout")
    assert timed_out["transactionInfo"]["stoppedReason"] == "Timeout"
    assert "meterValue" not in timed_out and gate.allowed("c2:1") is not True


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_e06_the_energy_transfer_stop_point_ends_it_when_the_ev_stops_drawing(
    tmp_path: Path, version: str, protocol: str
) -> None:
    """TxStopPoint EnergyTransfer set by the CSMS: the EV full (C to B), the transaction ends
    (StoppedByEV, ChargingStateChanged) with the register then, the EV still plugged in."""
    site, gate = FakeSite(), Gate()
    site.set("c1:1", Availability.AVAILABLE)
    meters = {"c1:1": CounterMeter(5000.0), "c2:1": CounterMeter(9000.0)}
    async with (
        strict_peer(protocols=protocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        manager = _manager(outbox, meters, gate)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1, "c2": 1}):
            await wait_for(lambda: len(peer.calls("StatusNotification")) == 1)
            await _set_tx_point(peer, "TxStopPoint", "EVConnected,EnergyTransfer")
            rule = [c for c in site.commands if isinstance(c, ChangeSessionRules)][-1]
            assert rule.stop_at_energy_end is True
            manager.change_rules(rule)
            await manager.on_charger_status("c1:1", status(CpState.B))
            await manager.on_token(Token(CARD), "c1:1")
            await manager.on_charger_status("c1:1", status(CpState.C))
            meters["c1:1"].energy_wh = 9500.0
            await manager.on_charger_status("c1:1", status(CpState.B))
            await _delivered(outbox)
        (session,) = await manager.recorder.store.recent()
    assert peer.invalid() == []
    assert gate.allowed("c1:1") is False and session.stop_reason == "StoppedByEV"
    ((started, ended),) = _by_transaction(peer).values()
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == (
        "ChargingStateChanged", "StoppedByEV",
    )  # fmt: skip
    assert ended["transactionInfo"]["chargingState"] == "EVConnected"
    billed_wh = _register(ended, "Transaction.End") - _register(started, "Transaction.Begin")
    assert billed_wh == session.energy_wh == 4500
