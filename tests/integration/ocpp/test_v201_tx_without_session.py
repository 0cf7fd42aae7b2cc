"""Reset OnIdle and TriggerMessage TransactionEvent see a transaction no session runs in, against
the schema-strict CSMS (the official 2.0.1 and 2.1 schemas): one begun at the plug-in before the
card (TxStartPoint EVConnected) and one going on after its session (TxStopPoint EVConnected
alone). Reset OnIdle is Scheduled and done once it ends (B12), TriggerMessage is Accepted and
sends an Updated event (triggerReason Trigger, the meter's register now) through the outbox
(F06). The session side and the uplink run on one database, as in the daemon."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.model import CpState, Token
from edge_controller.uplink.ports import MeterSample
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeMeters,
    wait_for,
)
from tests.integration.ocpp.test_v201_tx_start_points import (
    CARD,
    REGISTER,
    VERSIONS,
    _by_transaction,
    _delivered,
    _register,
)
from tests.integration.ocpp.test_v201_tx_stop_points import _Station, _station
from tests.unit.services.sessions.fixtures import status

pytestmark = pytest.mark.integration
TRIGGER = "TriggerMessage"


async def _ask(peer: Any, action: str, payload: dict[str, Any]) -> str:
    answer: dict[str, Any] = await peer.ask(IDENTITY, action, payload)
    return str(answer["status"])


def _triggered_wh(event: dict[str, Any]) -> float:
    (value,) = [
        v["value"]
        for mv in event["meterValue"]
        for v in mv["sampledValue"]
        if v["context"] == "Trigger" and v["measurand"] == REGISTER
    ]
    return float(value)


def _read_at(
    tmp_path: Path, version: str, protocol: str, point: tuple[str, str], register_wh: float
) -> AbstractAsyncContextManager[_Station]:
    """The station with c1:1's meter at ``register_wh`` for what the CSMS triggers, and no
    periodic samples beside it."""
    reading = MeterSample(at_s=0.0, energy_register_wh=register_wh, power_w=0.0)
    settings = {"version": version, "meter_value_sample_interval_s": 0}
    return _station(tmp_path, protocol, settings, point, readings=FakeMeters({"c1:1": reading}))


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_a_plug_in_transaction_before_the_card_is_triggered_and_waited_for(
    tmp_path: Path, version: str, protocol: str
) -> None:
    point = ("TxStartPoint", "EVConnected")
    async with _read_at(tmp_path, version, protocol, point, 5000.0) as station:
        peer, outbox, manager, _, _, _, uplink = station
        await manager.on_charger_status("c1:1", status(CpState.B))
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 1)
        await _delivered(outbox)
        # The triggers below are done while the reset waits for the transaction to end.
        on_idle = await _ask(peer, "Reset", {"type": "OnIdle"})
        other_evse = await _ask(peer, TRIGGER, {
            "requestedMessage": "TransactionEvent", "evse": {"id": 2},
        })  # fmt: skip
        triggered = await _ask(peer, TRIGGER, {"requestedMessage": "TransactionEvent"})
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
        await _delivered(outbox)
        await asyncio.sleep(1.5)  # the reset's followup polls meanwhile, and must wait
        boots_while_open = len(peer.calls("BootNotification"))
        await manager.on_charger_status("c1:1", status(CpState.A))  # the EV leaves
        await wait_for(lambda: len(peer.calls("BootNotification")) == 2)
        await wait_for(lambda: uplink.links[IDENTITY].accepted)
        await _delivered(outbox)
        sessions = await manager.recorder.store.recent()
    assert peer.invalid() == []
    assert (on_idle, other_evse, triggered) == ("Scheduled", "Rejected", "Accepted")
    assert boots_while_open == 1
    assert peer.calls("BootNotification")[1]["params"]["reason"] == "RemoteReset"
    ((plugged, updated, ended),) = _by_transaction(peer).values()
    assert [e["seqNo"] for e in (plugged, updated, ended)] == [0, 1, 2]
    assert (updated["eventType"], updated["triggerReason"]) == ("Updated", "Trigger")
    assert updated["evse"] == {"id": 1, "connectorId": 1}
    assert _triggered_wh(updated) == 5000.0  # the meter now; nothing billed
    # Nothing is offered before the card: no charging state a power of 0 W could tell.
    assert updated["transactionInfo"] == {
        "transactionId": plugged["transactionInfo"]["transactionId"]
    }
    assert ended["eventType"] == "Ended" and sessions == []


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_a_transaction_going_on_after_its_session_is_triggered_and_waited_for(
    tmp_path: Path, version: str, protocol: str
) -> None:
    point = ("TxStopPoint", "EVConnected")
    async with _read_at(tmp_path, version, protocol, point, 12004.0) as station:
        peer, outbox, manager, _, meters, _, _ = station
        await manager.on_charger_status("c1:1", status(CpState.B))
        assert (await manager.on_token(Token(CARD), "c1:1")).accepted
        await manager.on_charger_status("c1:1", status(CpState.C))
        meters["c1:1"].energy_wh = 12000.0
        assert (await manager.on_token(Token(CARD), "c1:1")).accepted  # the driver stops
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
        await _delivered(outbox)
        evse_on_idle = await _ask(peer, "Reset", {"type": "OnIdle", "evseId": 1})
        idle_evse = await _ask(peer, "Reset", {"type": "OnIdle", "evseId": 2})
        triggered = await _ask(peer, TRIGGER, {
            "requestedMessage": "TransactionEvent", "evse": {"id": 1},
        })  # fmt: skip
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 3)
        await _delivered(outbox)
        await manager.on_charger_status("c1:1", status(CpState.A))  # the EV leaves
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 4)
        await _delivered(outbox)
        (session,) = await manager.recorder.store.recent()
    assert peer.invalid() == []
    assert (evse_on_idle, idle_evse, triggered) == ("Scheduled", "Accepted", "Accepted")
    ((started, stopped, updated, ended),) = _by_transaction(peer).values()
    assert [e["seqNo"] for e in (started, stopped, updated, ended)] == [0, 1, 2, 3]
    assert stopped["triggerReason"] == "StopAuthorized"
    assert (updated["eventType"], updated["triggerReason"]) == ("Updated", "Trigger")
    assert _triggered_wh(updated) == 12004.0  # the meter now, drift after the session included
    assert "chargingState" not in updated["transactionInfo"]  # nothing offered after it
    assert (ended["eventType"], ended["transactionInfo"]["stoppedReason"]) == (
        "Ended", "EVDisconnected",
    )  # fmt: skip
    # The CSMS bills the session's registers, not the reading the trigger sent.
    billed_wh = _register(ended, "Transaction.End") - _register(ended, "Transaction.Begin")
    assert billed_wh == session.energy_wh == 7000
