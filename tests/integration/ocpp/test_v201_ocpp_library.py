"""OCPP 2.0.1 against an independent central system: the python ``ocpp`` package's v201
``ChargePoint`` with its ``on()`` handlers, served over websockets by this test, with the real
session side. Boot, Authorize, a RequestStartTransaction whose remoteStartId comes back in the
Started event, Updated and Ended with the energy the site recorded, GetTransactionStatus.

The library checks every message it receives against its own copy of the 2.0.1 schemas and
answers a bad one with a CALLERROR; the frames it sends are recorded (a thin wrapper around
the websocket), so "zero schema errors" is: no CALLERROR from either side, nothing parked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection, serve

from edge_controller.domain.sessions.events import (
    Conductor,
    MeterSampled,
    Quantity,
    Reading,
    ReadingContext,
)
from tests.integration.ocpp.harness import settings_for, wait_for
from tests.integration.ocpp.sessions_site import CARD, live_site, uplink_to

pytestmark = pytest.mark.integration
CALLERROR = 4


class Recorded:
    """The websocket as the library uses it (recv/send), keeping every frame either way."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.sent: list[list[Any]] = []
        self.received: list[list[Any]] = []

    async def recv(self) -> str:
        raw = await self.connection.recv()
        text = raw if isinstance(raw, str) else raw.decode()
        self.received.append(json.loads(text))
        return text

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))
        await self.connection.send(message)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class LibraryCsms(ChargePoint):  # type: ignore[misc]
    """The central system: answers what the station sends, records the requests."""

    def __init__(self, identity: str, connection: Recorded) -> None:
        super().__init__(identity, connection)
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def _seen(self, action: str, **payload: Any) -> None:
        self.requests.append((action, payload))

    @on(Action.boot_notification)
    def on_boot(self, **payload: Any) -> call_result.BootNotification:
        self._seen("BootNotification", **payload)
        return call_result.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status(self, **payload: Any) -> call_result.StatusNotification:
        self._seen("StatusNotification", **payload)
        return call_result.StatusNotification()

    @on(Action.security_event_notification)
    def on_security_event(self, **payload: Any) -> call_result.SecurityEventNotification:
        self._seen("SecurityEventNotification", **payload)
        return call_result.SecurityEventNotification()

    @on(Action.authorize)
    def on_authorize(self, **payload: Any) -> call_result.Authorize:
        self._seen("Authorize", **payload)
        return call_result.Authorize(id_token_info={"status": "Accepted"})

    @on(Action.transaction_event)
    def on_transaction_event(self, **payload: Any) -> call_result.TransactionEvent:
        self._seen("TransactionEvent", **payload)
        if payload["event_type"] == "Started":
            return call_result.TransactionEvent(id_token_info={"status": "Accepted"})
        return call_result.TransactionEvent()

    def events(self) -> list[dict[str, Any]]:
        return [p for a, p in self.requests if a == "TransactionEvent"]


@asynccontextmanager
async def library_csms() -> AsyncIterator[tuple[dict[str, tuple[LibraryCsms, Recorded]], int]]:
    stations: dict[str, tuple[LibraryCsms, Recorded]] = {}

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        identity = connection.request.path.strip("/").split("/")[-1]
        recorded = Recorded(connection)
        station = LibraryCsms(identity, recorded)
        stations[identity] = (station, recorded)
        await station.start()

    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        yield stations, port


async def test_a_remote_started_session_against_the_ocpp_librarys_central_system(
    tmp_path: Path,
) -> None:
    async with library_csms() as (stations, port), live_site(tmp_path) as (site, outbox):
        settings = settings_for(f"ws://127.0.0.1:{port}", version="2.0.1")
        async with uplink_to(settings, site, outbox, tmp_path) as uplink:
            await wait_for(lambda: uplink.online and "site1" in stations)
            csms, wire = stations["site1"]
            assert (await uplink.authorize(CARD)) is not None
            token = {"id_token": CARD, "type": "Central"}
            answer = await csms.call(
                call.RequestStartTransaction(id_token=token, remote_start_id=42, evse_id=1),
                suppress=False,
            )
            assert answer.status == "Accepted"
            site.meters["c1:1"].energy_wh = 1000.0
            await site.plug("c1:1")
            await wait_for(lambda: len(csms.events()) == 1)
            local_id = int(site.shown("c1:1").session_id or 0)
            # A sample of the running session, as the uplink's metering queues it.
            readings = tuple(
                Reading(Quantity.CURRENT_IMPORT_A, Decimal("15.9"), line)
                for line in (Conductor.L1, Conductor.L2)
            )
            at_s = uplink.links["site1"].now_s()
            sample = MeterSampled(local_id, "c1:1", at_s, ReadingContext.PERIODIC, readings, 2)
            await outbox.append("site1", sample)
            uplink.notify_outbox()
            await wait_for(lambda: len(csms.events()) == 2)
            tx_id = csms.events()[0]["transaction_info"]["transaction_id"]
            status = await csms.call(
                call.GetTransactionStatus(transaction_id=tx_id), suppress=False
            )
            site.meters["c1:1"].energy_wh = 8400.0
            request_stop = call.RequestStopTransaction(transaction_id=tx_id)
            stop = await csms.call(request_stop, suppress=False)
            assert stop.status == "Accepted"
            await wait_for(lambda: len(csms.events()) == 3)
            await wait_for(lambda: uplink.sessions["site1"].sender.sent >= 3)
        parked = await outbox.parked()
        (record,) = await site.manager.recorder.store.recent()
    assert status.ongoing_indicator is True
    started, updated, ended = csms.events()
    assert started["event_type"] == "Started" and started["trigger_reason"] == "RemoteStart"
    assert started["transaction_info"]["remote_start_id"] == 42
    assert started["id_token"] == {"id_token": CARD, "type": "Central"}
    assert updated["event_type"] == "Updated" and updated["number_of_phases_used"] == 2
    assert ended["event_type"] == "Ended"
    assert ended["transaction_info"]["stopped_reason"] == "Remote"
    assert [e["seq_no"] for e in (started, updated, ended)] == [0, 1, 2]
    # Wh billed = Wh recorded: the registers the library got are the session's.
    begin = _register(started, "Transaction.Begin")
    end = _register(ended, "Transaction.End")
    assert (begin, end) == (record.meter_start_wh, record.meter_stop_wh) == (1000, 8400)
    assert ("Authorize", {"id_token": {"id_token": CARD, "type": "ISO14443"}}) in csms.requests
    # Zero schema errors either way: no CALLERROR sent by the library, none received from us.
    assert [m for m in wire.sent if m[0] == CALLERROR] == []
    assert [m for m in wire.received if m[0] == CALLERROR] == []
    assert parked == []


def _register(event: dict[str, Any], context: str) -> int:
    return next(
        round(float(v["value"]))
        for mv in event["meter_value"]
        for v in mv["sampled_value"]
        if v.get("context") == context
    )
