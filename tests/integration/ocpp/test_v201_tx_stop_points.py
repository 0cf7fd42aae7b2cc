"""A transaction no session runs in, against the schema-strict CSMS (the official 2.0.1 and 2.1
schemas). TxStopPoint EVConnected alone, set by the CSMS (2.0.1 E06, TC_E_14 after
StopAuthorized and EVConnectedPostSession): the card ends the session and its bill (Updated,
StopAuthorized, chargingState EVConnected), the transaction goes on while the EV stays plugged
in and ends when it leaves (Ended, EVCommunicationLost, EVDisconnected) with the session's
registers. A plug-in's transaction no session joined yet (TxStartPoint EVConnected) is ongoing
for GetTransactionStatus and ended by RequestStopTransaction (F03: Remote, RemoteStop).
TxStopPoint Authorized alone (TC_E_15): a fault ends the session, the driver's card the
transaction. One left open on a connector the config lost ends at the next start. The
connector views the station reads are the session side's, as in the daemon."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from edge_controller.domain.commands import ChangeSessionRules, Command, StopSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.snapshot import Availability, ConnectorView
from edge_controller.services.sessions.manager import SessionManager
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeMeters,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer
from tests.integration.ocpp.test_v201_tx_start_points import (
    CARD,
    VERSIONS,
    _by_transaction,
    _delivered,
    _manager,
    _register,
    _set_tx_point,
)
from tests.unit.services.sessions.fixtures import CounterMeter, Gate, status

pytestmark = pytest.mark.integration


@dataclass
class _SessionSite(FakeSite):
    """The site as the daemon wires it: the views joined with the session side's, a stop
    carried out by it."""

    manager: SessionManager | None = None
    stops: set[asyncio.Task[Any]] = field(default_factory=set)

    def connectors(self) -> list[ConnectorView]:
        views = list(self.views.values())
        return views if self.manager is None else [self.manager.connector_view(v) for v in views]

    def submit(self, command: Command) -> bool:
        super().submit(command)
        if isinstance(command, StopSession) and self.manager is not None:
            task = asyncio.get_running_loop().create_task(self.manager.stop(command))
            self.stops.add(task)
            task.add_done_callback(self.stops.discard)
        return True


def _site() -> _SessionSite:
    site = _SessionSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.AVAILABLE)
    return site


def _rule(site: FakeSite) -> ChangeSessionRules:
    return [c for c in site.commands if isinstance(c, ChangeSessionRules)][-1]


class _Station(NamedTuple):
    """The CSMS, the station (uplink) and the session side on one database, two connectors."""

    peer: Any
    outbox: Any
    manager: SessionManager
    site: _SessionSite
    meters: dict[str, CounterMeter]
    gate: Gate
    uplink: Any


@contextlib.asynccontextmanager
async def _station(
    tmp_path: Path,
    protocol: str,
    settings: dict[str, Any],
    point: tuple[str, str],
    *,
    begin_wh: float = 5000.0,
    readings: FakeMeters | None = None,
) -> AsyncIterator[_Station]:
    """Started with the CSMS's ``point`` (TxStartPoint or TxStopPoint, its value) in force."""
    site, gate = _site(), Gate()
    meters = {"c1:1": CounterMeter(begin_wh), "c2:1": CounterMeter(9000.0)}
    extra = {} if readings is None else {"meters": readings}
    async with (
        strict_peer(protocols=protocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        manager = _manager(outbox, meters, gate)
        site.manager = manager
        config = settings_for(f"ws://127.0.0.1:{peer.port}", **settings)
        chargers = {"c1": 1, "c2": 1}
        async with running_uplink(config, site, outbox, tmp_path, chargers, **extra) as uplink:
            await wait_for(lambda: len(peer.calls("StatusNotification")) == 2)
            await _set_tx_point(peer, *point)
            manager.change_rules(_rule(site))  # the command port's work in the daemon
            yield _Station(peer, outbox, manager, site, meters, gate, uplink)


async def _status_of(tx_id: str, ask: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await ask(IDENTITY, "GetTransactionStatus", {"transactionId": tx_id})
    return answer


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_e14_with_ev_connected_alone_the_transaction_ends_when_the_ev_leaves(
    tmp_path: Path, version: str, protocol: str
) -> None:
    point = ("TxStopPoint", "EVConnected")
    async with _station(tmp_path, protocol, {"version": version}, point) as station:
        peer, outbox, manager, site, meters, gate, _ = station
        assert _rule(site).stop_only_at_unplug is True
        await manager.on_charger_status("c1:1", status(CpState.B))
        assert (await manager.on_token(Token(CARD), "c1:1")).accepted
        await manager.on_charger_status("c1:1", status(CpState.C))
        meters["c1:1"].energy_wh = 12000.0
        assert (await manager.on_token(Token(CARD), "c1:1")).accepted  # the driver stops
        assert gate.allowed("c1:1") is False
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
        tx_id = peer.calls("TransactionEvent")[0]["params"]["transactionInfo"]["transactionId"]
        await _delivered(outbox)
        going_on = await _status_of(tx_id, peer.ask)
        meters["c1:1"].energy_wh = 12004.0  # the meter's drift after the stop: not billed
        await manager.on_charger_status("c1:1", status(CpState.A))
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 3)
        await _delivered(outbox)
        over = await _status_of(tx_id, peer.ask)
        (session,) = await manager.recorder.store.recent()
    assert peer.invalid() == []
    assert going_on == {"ongoingIndicator": True, "messagesInQueue": False}
    assert over == {"ongoingIndicator": False, "messagesInQueue": False}

    ((started, stopped, ended),) = _by_transaction(peer).values()
    assert [e["seqNo"] for e in (started, stopped, ended)] == [0, 1, 2]
    assert (stopped["eventType"], stopped["triggerReason"]) == ("Updated", "StopAuthorized")
    assert stopped["transactionInfo"] == {"transactionId": tx_id, "chargingState": "EVConnected"}
    assert stopped["idToken"] == {"idToken": CARD, "type": "ISO14443"}
    assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "EVCommunicationLost")
    assert ended["transactionInfo"] == {
        "transactionId": tx_id, "chargingState": "Idle", "stoppedReason": "EVDisconnected",
    }  # fmt: skip
    # The CSMS bills what the session billed: its registers, not the drift after it.
    billed_wh = _register(ended, "Transaction.End") - _register(ended, "Transaction.Begin")
    assert _register(ended, "Transaction.Begin") == _register(started, "Transaction.Begin")
    assert billed_wh == session.energy_wh == 7000
    assert (session.meter_start_wh, session.stop_reason) == (5000, "Local")


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_f03_a_remote_stop_ends_a_plug_in_transaction_no_session_joined(
    tmp_path: Path, version: str, protocol: str
) -> None:
    point = ("TxStartPoint", "EVConnected")
    async with _station(tmp_path, protocol, {"version": version}, point) as station:
        peer, outbox, manager, _, _, gate, _ = station
        await manager.on_charger_status("c1:1", status(CpState.B))
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 1)
        tx_id = peer.calls("TransactionEvent")[0]["params"]["transactionInfo"]["transactionId"]
        await _delivered(outbox)
        waiting = await _status_of(tx_id, peer.ask)
        answer = await peer.ask(IDENTITY, "RequestStopTransaction", {"transactionId": tx_id})
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
        await _delivered(outbox)
        over = await _status_of(tx_id, peer.ask)
        unknown = await peer.ask(IDENTITY, "RequestStopTransaction", {"transactionId": tx_id})
        refused = await manager.on_token(Token(CARD), "c1:1")  # no new session there
        sessions = await manager.recorder.store.recent()
    assert peer.invalid() == []
    assert waiting == {"ongoingIndicator": True, "messagesInQueue": False}
    assert answer == {"status": "Accepted"} and unknown == {"status": "Rejected"}
    assert over == {"ongoingIndicator": False, "messagesInQueue": False}
    assert not refused.accepted and gate.allowed("c1:1") is not True and sessions == []
    ((plugged, ended),) = _by_transaction(peer).values()
    assert (plugged["eventType"], ended["eventType"]) == ("Started", "Ended")
    assert [plugged["seqNo"], ended["seqNo"]] == [0, 1]
    assert ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"] == {
        "transactionId": tx_id, "chargingState": "EVConnected", "stoppedReason": "Remote",
    }  # fmt: skip
    assert "meterValue" not in ended  # no energy: nothing flowed without a session


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_e15_with_authorized_alone_the_card_ends_the_transaction_after_a_fault(
    tmp_path: Path, version: str, protocol: str
) -> None:
    """TxStopPoint Authorized alone (E06.FR.03, TC_E_15): a charger fault with the EV plugged
    in ends the session and its energy (Updated, AbnormalCondition), not the authorisation;
    the driver's card ends the transaction (Ended, StopAuthorized, Local, the card)."""
    point = ("TxStopPoint", "Authorized")
    async with _station(
        tmp_path, protocol, {"version": version}, point, begin_wh=2000.0
    ) as station:
        peer, outbox, manager, site, meters, gate, _ = station
        assert _rule(site).stop_only_at_deauthorization is True
        await manager.on_charger_status("c1:1", status(CpState.B))
        assert (await manager.on_token(Token(CARD), "c1:1")).accepted
        await manager.on_charger_status("c1:1", status(CpState.C))
        meters["c1:1"].energy_wh = 4500.0
        faulted = replace(status(CpState.B), fault_text="overtemperature")
        await manager.on_charger_status("c1:1", faulted)
        assert gate.allowed("c1:1") is False
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
        meters["c1:1"].energy_wh = 4501.0
        assert (await manager.on_token(Token(CARD), "c1:1")).accepted  # the driver ends it
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 3)
        await _delivered(outbox)
        (session,) = await manager.recorder.store.recent()
    assert peer.invalid() == []
    ((started, faulted_event, ended),) = _by_transaction(peer).values()
    assert [e["seqNo"] for e in (started, faulted_event, ended)] == [0, 1, 2]
    assert (faulted_event["eventType"], faulted_event["triggerReason"]) == (
        "Updated", "AbnormalCondition",
    )  # fmt: skip
    assert faulted_event["transactionInfo"]["chargingState"] == "EVConnected"
    assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "StopAuthorized")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"] == {"idToken": CARD, "type": "ISO14443"}
    billed_wh = _register(ended, "Transaction.End") - _register(ended, "Transaction.Begin")
    assert billed_wh == session.energy_wh == 2500 and session.stop_reason == "Other"


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_a_transaction_on_a_removed_connector_ends_at_start_up(
    tmp_path: Path, version: str, protocol: str
) -> None:
    """The config lost a connector while its plug-in's transaction was open: the next start
    ends it (Ended, PowerLoss) for the identity its Started went to, without the EVSE the
    station no longer has; the schema-strict CSMS takes it."""
    site, gate = _site(), Gate()
    site.set("c3:1", Availability.AVAILABLE)
    meters = {cid: CounterMeter(1000.0) for cid in ("c1:1", "c2:1", "c3:1")}
    async with (
        strict_peer(protocols=protocol) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        before = _manager(outbox, meters, gate, connectors=("c1:1", "c2:1", "c3:1"))
        before.change_rules(ChangeSessionRules(start_at_plug=True))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        chargers = {"c1": 1, "c2": 1, "c3": 1}
        async with running_uplink(settings, site, outbox, tmp_path, chargers):
            await before.on_charger_status("c3:1", status(CpState.B))
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 1)
            await _delivered(outbox)
        # The daemon stopped without ending it (killed); it starts again without c3.
        del site.views["c3:1"]
        after = _manager(outbox, meters, gate)
        await after.recover()
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1, "c2": 1}):
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
            await _delivered(outbox)
        left = await after.recorder.store.plugs.open_ones()
    assert peer.invalid() == [] and left == []
    ((plugged, ended),) = _by_transaction(peer).values()
    assert plugged["evse"] == {"id": 3, "connectorId": 1} and "evse" not in ended
    assert (ended["eventType"], ended["seqNo"], ended["triggerReason"]) == (
        "Ended", 1, "AbnormalCondition",
    )  # fmt: skip
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"
    assert "meterValue" not in ended  # no session: no energy
