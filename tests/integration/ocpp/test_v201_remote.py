"""Reset, ChangeAvailability, TriggerMessage, UnlockConnector, reservations and DataTransfer on
OCPP 2.0.1 and 2.1 against the schema-strict CSMS (official schemas both ways): each answer
the state of the site calls for, what is decided reaches the session side as a command, and
zero schema rejections. The session side is the harness's recording site (the decisions
taken from its own states are covered by its own tests).

Provisioning and remote control cases of OCPP 2.0.1: B12 Reset with a transaction running
(OnIdle and Immediate), G03 ChangeAvailability of an EVSE, F05 UnlockConnector, F06
TriggerMessage, P01 DataTransfer.

Reservation cases of OCPP 2.0.1 (H): H01 ReserveNow for an EVSE or any, with a group id (C09)
naming who else may use it; H02 CancelReservation; H03 the reserved EVSE used by its token, the
Started event naming the reservation; H04 a reservation that ran out unused reported Expired
by ReservationStatusUpdate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.commands import (
    CancelReservation,
    Command,
    CommandResult,
    Reserve,
    StopReason,
    StopSession,
)
from edge_controller.domain.snapshot import Availability
from edge_controller.storage.sessions_store import SessionStart
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.ports import MeterSample
from edge_controller.uplink.service import OcppUplink
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeMeters,
    FakeSite,
    open_outbox,
    running_uplink,
    session_store,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.outbox_events import announcing, started

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]
CHARGERS = {"c1": 1, "c2": 1}
EXPIRY = "2030-01-01T00:00:00Z"


@asynccontextmanager
async def station(
    tmp_path: Path, site: FakeSite, protocol: str
) -> AsyncIterator[tuple[StrictPeer, OcppUplink]]:
    version = protocol.removeprefix("ocpp")
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer(protocols=protocol) as peer,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: len(peer.calls("BootNotification")) == 1)
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            yield peer, uplink
        assert peer.invalid() == []


async def ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> str:
    """Send a CALL, wait for its answer and give its status."""
    return str((await peer.ask(IDENTITY, action, params))["status"])


def site_with(c2: Availability = Availability.AVAILABLE, **c2_changes: Any) -> FakeSite:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", c2, **c2_changes)
    return site


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_b12_reset_on_idle_waits_for_the_session_then_boots_again(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = site_with(Availability.CHARGING, session_id="7")
    async with station(tmp_path, site, protocol) as (peer, uplink):
        assert await ask(peer, "Reset", {"type": "OnIdle"}) == "Scheduled"
        await asyncio.sleep(1.5)  # the followup runs meanwhile, and must wait
        assert len(peer.calls("BootNotification")) == 1  # still charging: no reboot yet
        assert _stops(site) == []
        site.set("c2:1", Availability.AVAILABLE, session_id=None)  # the EV leaves
        await wait_for(lambda: len(peer.calls("BootNotification")) == 2)
        assert peer.calls("BootNotification")[1]["params"]["reason"] == "RemoteReset"
        await wait_for(lambda: uplink.links[IDENTITY].accepted)
    # The session ended as it would have: the reset stopped nothing.
    assert _stops(site) == []


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_b12_reset_immediate_stops_the_sessions_with_immediate_reset(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = site_with(Availability.CHARGING, session_id="7")
    async with station(tmp_path, site, protocol) as (peer, _):
        assert await ask(peer, "Reset", {"type": "Immediate", "evseId": 9}) == "Rejected"
        assert await ask(peer, "Reset", {"type": "OnIdle", "evseId": 2}) == "Scheduled"
        assert await ask(peer, "Reset", {"type": "OnIdle", "evseId": 1}) == "Accepted"
        assert _stops(site) == []
        assert await ask(peer, "Reset", {"type": "Immediate", "evseId": 2}) == "Accepted"
        assert _stops(site) == [("c2:1", StopReason.HARD_RESET)]
        assert await ask(peer, "Reset", {"type": "Immediate"}) == "Accepted"
        await wait_for(lambda: len(peer.calls("BootNotification")) == 2)
    assert _stops(site) == [("c2:1", StopReason.HARD_RESET)] * 2


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_g03_change_availability_is_scheduled_while_a_transaction_runs(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = site_with(Availability.CHARGING, session_id="7")
    async with station(tmp_path, site, protocol) as (peer, uplink):
        config = uplink.links[IDENTITY].config
        inoperative = {"operationalStatus": "Inoperative"}
        assert await ask(peer, "ChangeAvailability", inoperative | {"evse": {"id": 9}}) == (
            "Rejected"
        )
        assert await ask(peer, "ChangeAvailability", inoperative | {"evse": {"id": 1}}) == (
            "Accepted"
        )
        await wait_for(lambda: _last_status(peer, 1) == "Unavailable")
        assert await ask(peer, "ChangeAvailability", inoperative | {"evse": {"id": 2}}) == (
            "Scheduled"
        )
        assert config.inoperative(2)
        site.set("c2:1", Availability.AVAILABLE, session_id=None)
        await wait_for(lambda: _last_status(peer, 2) == "Unavailable")
        operative = {"operationalStatus": "Operative"}
        assert await ask(peer, "ChangeAvailability", operative) == "Accepted"
        await wait_for(lambda: _last_status(peer, 1) == _last_status(peer, 2) == "Available")
        assert not config.inoperative(1) and not config.inoperative(2)


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_f06_trigger_message_sends_what_it_can_and_says_what_it_cannot(
    tmp_path: Path, version: str, protocol: str
) -> None:
    async with station(tmp_path, site_with(), protocol) as (peer, _):
        await wait_for(lambda: _last_status(peer, 2) == "Available")
        statuses = len(peer.calls("StatusNotification"))
        trigger = "TriggerMessage"
        assert await ask(peer, trigger, {"requestedMessage": "Heartbeat"}) == "Accepted"
        await wait_for(lambda: len(peer.calls("Heartbeat")) >= 1)
        status = {"requestedMessage": "StatusNotification", "evse": {"id": 2}}
        assert await ask(peer, trigger, status) == "Accepted"
        await wait_for(lambda: len(peer.calls("StatusNotification")) == statuses + 1)
        assert peer.calls("StatusNotification")[-1]["params"]["evseId"] == 2
        unknown = {"requestedMessage": "StatusNotification", "evse": {"id": 9}}
        assert await ask(peer, trigger, unknown) == "Rejected"
        for message in ("FirmwareStatusNotification", "LogStatusNotification"):
            assert await ask(peer, trigger, {"requestedMessage": message}) == "Accepted"
            await wait_for(lambda m=message: len(peer.calls(m)) == 1)  # type: ignore[misc]
            assert peer.calls(message)[0]["params"] == {"status": "Idle"}
        assert await ask(peer, trigger, {"requestedMessage": "BootNotification"}) == "Rejected"
        # SignChargingStationCertificate is triggerable (test_security_certificates.py);
        # TransactionEvent and MeterValues where meters are wired (the next test).
        for message in ("TransactionEvent", "MeterValues"):
            assert await ask(peer, trigger, {"requestedMessage": message}) == "NotImplemented"
        assert len(peer.calls("BootNotification")) == 1


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_f06_triggered_transaction_event_and_meter_values_carry_the_readings_now(
    tmp_path: Path, version: str, protocol: str
) -> None:
    """TriggerMessage TransactionEvent: an Updated event of the running transaction (trigger
    Trigger, recorded and sent through the outbox as every sample); none where no transaction
    runs. TriggerMessage MeterValues: each EVSE's readings, sent at once."""
    site = site_with()
    charging = MeterSample(at_s=0.0, energy_register_wh=5400.4, power_w=7200.0)
    meters = FakeMeters({"c1:1": charging, "c2:1": MeterSample(at_s=0.0, energy_register_wh=800)})
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer(protocols=protocol) as peer,
    ):
        start = SessionStart("c1:1", "AABBCCDD", time.time() - 60, 1000,
                             announce=announcing(IDENTITY, "c1:1", 1000))  # fmt: skip
        record = await session_store(outbox).start(start)
        site.set("c1:1", Availability.CHARGING, session_id=str(record.local_id))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version,
                                meter_value_sample_interval_s=0)  # fmt: skip
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS, meters=meters):
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 1)
            trigger = "TriggerMessage"
            idle = {"requestedMessage": "TransactionEvent", "evse": {"id": 2}}
            assert await ask(peer, trigger, idle) == "Rejected"
            assert await ask(peer, trigger, {"requestedMessage": "TransactionEvent"}) == "Accepted"
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
            one = {"requestedMessage": "MeterValues", "evse": {"id": 2}}
            assert await ask(peer, trigger, one) == "Accepted"
            await wait_for(lambda: len(peer.calls("MeterValues")) == 1)
            assert await ask(peer, trigger, {"requestedMessage": "MeterValues"}) == "Accepted"
            await wait_for(lambda: len(peer.calls("MeterValues")) == 3)
        kept = await session_store(outbox).get(record.local_id)
    begin, updated = (c["params"] for c in peer.calls("TransactionEvent"))
    assert (updated["eventType"], updated["triggerReason"]) == ("Updated", "Trigger")
    assert updated["transactionInfo"]["transactionId"] == begin["transactionInfo"]["transactionId"]
    assert updated["seqNo"] == begin["seqNo"] + 1 and updated["evse"]["id"] == 1
    # Recorded as transaction data (whole Wh), sent as recorded.
    assert kept is not None and kept.last_meter_wh == 5400 == _energy(updated["meterValue"][0])
    sent = [c["params"] for c in peer.calls("MeterValues")]
    assert [(p["evseId"], _energy(p["meterValue"][0])) for p in sent] == [
        (2, 800), (1, 5400), (2, 800),
    ]  # fmt: skip
    contexts = {v["context"] for p in sent for v in p["meterValue"][0]["sampledValue"]}
    assert contexts == {"Trigger"}
    assert peer.invalid() == []


def _energy(meter_value: dict[str, Any]) -> float:
    return float(next(v["value"] for v in meter_value["sampledValue"]
                      if v["measurand"] == "Energy.Active.Import.Register"))  # fmt: skip


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_f05_unlock_connector_answers_what_the_charger_can_do(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = site_with(Availability.CHARGING, session_id="7")
    async with station(tmp_path, site, protocol) as (peer, _):
        unlock = "UnlockConnector"
        assert await ask(peer, unlock, {"evseId": 9, "connectorId": 1}) == "UnknownConnector"
        assert await ask(peer, unlock, {"evseId": 1, "connectorId": 2}) == "UnknownConnector"
        assert await ask(peer, unlock, {"evseId": 2, "connectorId": 1}) == (
            "OngoingAuthorizedTransaction"
        )
        assert await ask(peer, unlock, {"evseId": 1, "connectorId": 1}) == "UnlockFailed"
    assert _stops(site) == []


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_h01_h02_reserve_now_with_and_without_evse_and_cancel(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = site_with(Availability.FAULTED)
    async with station(tmp_path, site, protocol) as (peer, _):

        def reserve(reservation_id: int, **more: Any) -> dict[str, Any]:
            token = {"idToken": "CAFE01", "type": "ISO14443"}
            return {"id": reservation_id, "expiryDateTime": EXPIRY, "idToken": token} | more

        assert await ask(peer, "ReserveNow", reserve(1, evseId=2)) == "Faulted"
        assert await ask(peer, "ReserveNow", reserve(2, evseId=9)) == "Rejected"
        group = {"idToken": "GROUP1", "type": "Central"}
        assert await ask(peer, "ReserveNow", reserve(3, evseId=1, groupIdToken=group)) == (
            "Accepted"
        )
        assert await ask(peer, "ReserveNow", reserve(4)) == "Accepted"
        site.set("c1:1", Availability.RESERVED, reservation_id=3)
        assert await ask(peer, "ReserveNow", reserve(5, evseId=1)) == "Occupied"
        assert await ask(peer, "CancelReservation", {"reservationId": 99}) == "Rejected"
        assert await ask(peer, "CancelReservation", {"reservationId": 3}) == "Accepted"
    reserves = [c for c in site.commands if isinstance(c, Reserve)]
    first = reserves[0]
    assert (first.connector_id, first.reservation_id, first.id_tag) == ("c1:1", 3, "CAFE01")
    assert reserves[0].parent_id_tag == "GROUP1"
    assert [r.reservation_id for r in reserves] == [3, 4]
    cancels = [c for c in site.commands if isinstance(c, CancelReservation)]
    assert [c.reservation_id for c in cancels] == [3]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_h03_the_reserved_evse_used_by_its_token_names_the_reservation(
    tmp_path: Path, version: str, protocol: str
) -> None:
    """The holder's card starts on the reserved EVSE (the session side's decision, the story
    holder_arrives_and_uses_the_reservation); its Started event names the reservation."""
    site = site_with()
    token = {"idToken": "CAFE01", "type": "ISO14443"}
    async with station(tmp_path, site, protocol) as (peer, uplink):
        reserve = {"id": 6, "expiryDateTime": EXPIRY, "idToken": token, "evseId": 2}
        assert await ask(peer, "ReserveNow", reserve) == "Accepted"
        (taken,) = [c for c in site.commands if isinstance(c, Reserve)]
        assert (taken.connector_id, taken.reservation_id) == ("c2:1", 6)
        start = started(1, "c2:1", 500, id_tag="CAFE01", at_s=time.time(), reservation_id=6)
        await uplink.links[IDENTITY].outbox.append(IDENTITY, start)
        uplink.notify_outbox()
        await wait_for(lambda: len(peer.calls("TransactionEvent")) == 1)
    (event,) = [c["params"] for c in peer.calls("TransactionEvent")]
    assert (event["eventType"], event["reservationId"]) == ("Started", 6)
    assert event["evse"] == {"id": 2, "connectorId": 1}
    assert event["idToken"] == token


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_p01_data_transfer_is_unknown_vendor(
    tmp_path: Path, version: str, protocol: str
) -> None:
    async with station(tmp_path, site_with(), protocol) as (peer, _):
        transfer = {"vendorId": "com.example", "messageId": "x", "data": "y"}
        assert await ask(peer, "DataTransfer", transfer) == "UnknownVendorId"


def _last_status(peer: StrictPeer, evse_id: int) -> str | None:
    found = [c["params"] for c in peer.calls("StatusNotification")]
    mine = [p["connectorStatus"] for p in found if p["evseId"] == evse_id]
    return mine[-1] if mine else None


@dataclass
class BookingSite(FakeSite):
    """Holds each reservation it takes in its book until the test drops it."""

    booked: set[int] = field(default_factory=set)

    async def decide(self, command: Command) -> CommandResult:
        if isinstance(command, Reserve):
            self.booked.add(command.reservation_id)
        return await super().decide(command)

    def reservation_ids(self) -> frozenset[int]:
        return frozenset(self.booked)


def _stops(site: FakeSite) -> list[tuple[str, StopReason]]:
    return [(c.connector_id, c.reason) for c in site.commands if isinstance(c, StopSession)]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_h04_a_reservation_that_runs_out_unused_is_reported_expired(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = BookingSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.AVAILABLE)
    async with station(tmp_path, site, protocol) as (peer, uplink):
        soon = to_iso(uplink.links[IDENTITY].clock.now_s(time.time()) + 1.0)
        token = {"idToken": "CAFE01", "type": "ISO14443"}
        used = {"id": 5, "expiryDateTime": EXPIRY, "idToken": token, "evseId": 2}
        assert await ask(peer, "ReserveNow", used) == "Accepted"
        short = {"id": 4, "expiryDateTime": soon, "idToken": token, "evseId": 1}
        assert await ask(peer, "ReserveNow", short) == "Accepted"
        assert site.booked == {4, 5}
        await asyncio.sleep(1.5)
        # The session side drops both: 5 before its expiry (its card started a session), 4 after.
        site.booked -= {4, 5}
        await wait_for(lambda: len(peer.calls("ReservationStatusUpdate")) == 1)
        await asyncio.sleep(1.5)
    updates = [c["params"] for c in peer.calls("ReservationStatusUpdate")]
    assert updates == [{"reservationId": 4, "reservationUpdateStatus": "Expired"}]
