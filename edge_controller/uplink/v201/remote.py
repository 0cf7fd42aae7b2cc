"""CSMS-initiated operations on OCPP 2.0.1/2.1 besides transactions and the device model:
Reset, ChangeAvailability, TriggerMessage (every trigger this station has something to send
for), UnlockConnector, ReserveNow, CancelReservation and
DataTransfer (GetLog: ``v201.logs``).

Availability and reservations are decided by the same code as 1.6's (the handlers of
``handlers.remote`` and ``handlers.reservation``, called with the 1.6 spelling of the request),
so the session side decides through the command port in both versions. What these handlers
leave to do after the answer is out is staged, and ``run_followup`` does it on the session.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from edge_controller.domain.commands import Origin, StopReason, StopSession
from edge_controller.domain.snapshot import ConnectorView
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.handlers.remote import RemoteHandlers
from edge_controller.uplink.handlers.reservation import ReservationHandlers
from edge_controller.uplink.link import Followup, IdentityLink, Reboot, Trigger, UploadLog
from edge_controller.uplink.rpc import on
from edge_controller.uplink.session import RebootRequested
from edge_controller.uplink.topology import UnknownConnector
from edge_controller.uplink.v201 import render
from edge_controller.uplink.v201.logs import log_status, start_upload
from edge_controller.uplink.v201.security import send_sign_certificate

if TYPE_CHECKING:
    from edge_controller.uplink.metering import Metering
    from edge_controller.uplink.v201.session import Session201

IMMEDIATE, ON_IDLE = "Immediate", "OnIdle"
IDLE_POLL_S = 0.5
RESERVATION_POLL_S = 1.0
# What a trigger makes the station send; the rest of 2.x's list is NotImplemented (no ISO 15118
# certificates, no local firmware publishing).
METERED = frozenset({"MeterValues", "TransactionEvent"})  # with the connectors' meters wired
TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "SignChargingStationCertificate",
    }
)


class _Shared16(RemoteHandlers, ReservationHandlers):
    """The 1.6 handlers whose decisions 2.x shares (not registered on the 2.x endpoint)."""

    def __init__(self, link: IdentityLink) -> None:
        self.link = link


class RemoteHandlers201:
    def __init__(self, link: IdentityLink) -> None:
        self.link = link
        self.shared = _Shared16(link)
        # Accepted reservations by id: until when they hold (our clock), for the Expired update.
        self.reserved_until_s: dict[int, float] = {}

    def _local_id(self, evse_id: int) -> str | None:
        try:
            return self.link.topology.connector_id(self.link.identity, evse_id)
        except UnknownConnector:
            return None

    def _views(self, evse_id: int | None) -> list[ConnectorView]:
        """The views of this identity's connectors (EVSE ``evse_id`` only, if given)."""
        mine = self.link.topology.connectors(self.link.identity)
        local = None if evse_id is None else self._local_id(evse_id)
        wanted = mine if evse_id is None else [local] if local is not None else []
        return list(self.link.status.connectors_of(wanted))

    def _busy(self, evse_id: int | None) -> list[ConnectorView]:
        """The views (as ``_views``) with a transaction open: a session's, or one no session
        runs in (begun at the plug-in before the card, or going on after its session)."""
        return [v for v in self._views(evse_id) if in_transaction(v)]

    @on("Reset")
    async def on_reset(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind, evse_id = str(payload["type"]), payload.get("evseId")
        if evse_id is not None:
            return {"status": self._reset_evse(kind, int(evse_id))}
        busy = bool(self._busy(None))
        self.link.stage(Reboot(kind))
        return {"status": "Scheduled" if kind == ON_IDLE and busy else "Accepted"}

    def _reset_evse(self, kind: str, evse_id: int) -> str:
        """An EVSE has nothing to restart in software but its session: Immediate ends it,
        OnIdle lets it run to its end."""
        if self._local_id(evse_id) is None:
            return "Rejected"
        busy = self._busy(evse_id)
        if kind == ON_IDLE:
            return "Scheduled" if busy else "Accepted"
        for view in busy:
            stop = StopSession(view.connector_id, Origin.CSMS, StopReason.HARD_RESET)
            if not self.link.commands.submit(stop):
                return "Rejected"
        return "Accepted"

    @on("ChangeAvailability")
    async def on_change_availability(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse = payload.get("evse")
        if isinstance(evse, dict) and evse.get("connectorId", 1) != 1:
            return {"status": "Rejected"}  # one connector per EVSE here
        number = int(evse["id"]) if isinstance(evse, dict) else 0
        answer = self.shared.on_change_availability(number, str(payload["operationalStatus"]))
        return {"status": answer.status}

    @on("TriggerMessage")
    async def on_trigger(self, payload: dict[str, Any]) -> dict[str, Any]:
        message = str(payload["requestedMessage"])
        evse = payload.get("evse")
        evse_id = int(evse["id"]) if isinstance(evse, dict) else None
        metered = message in METERED and self.link.metering is not None
        if message not in TRIGGERABLE and not metered:
            return {"status": "NotImplemented"}
        if evse_id not in (None, 0) and self._local_id(evse_id) is None:
            return {"status": "Rejected"}
        if message == "TransactionEvent" and not self._busy(evse_id or None):
            return {"status": "Rejected"}  # no transaction there to report on
        if message == "BootNotification" and self.link.accepted:
            return {"status": "Rejected"}  # booted already: a second boot is refused
        self.link.stage(Trigger(message, evse_id or None))
        return {"status": "Accepted"}

    @on("UnlockConnector")
    async def on_unlock(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse_id, connector_id = int(payload["evseId"]), int(payload["connectorId"])
        if connector_id != 1 or self._local_id(evse_id) is None:
            return {"status": "UnknownConnector"}
        if any(v.session_id for v in self._views(evse_id)):  # authorised: a session runs
            return {"status": "OngoingAuthorizedTransaction"}
        # No charger port drives a lock: the unlock cannot be done, and we say so.
        return {"status": "UnlockFailed"}

    @on("ReserveNow")
    async def on_reserve_now(self, payload: dict[str, Any]) -> dict[str, Any]:
        group = payload.get("groupIdToken")
        answer = await self.shared.on_reserve_now(
            connector_id=int(payload.get("evseId", 0)),
            expiry_date=str(payload["expiryDateTime"]),
            id_tag=str(payload["idToken"]["idToken"]),
            reservation_id=int(payload["id"]),
            parent_id_tag=str(group["idToken"]) if isinstance(group, dict) else None,
        )
        if answer.status == "Accepted":
            until_s = from_iso(str(payload["expiryDateTime"])) - self.link.clock.offset_s
            self.reserved_until_s[int(payload["id"])] = until_s
        return {"status": answer.status}

    @on("CancelReservation")
    async def on_cancel_reservation(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self.shared.on_cancel_reservation(int(payload["reservationId"]))
        if answer.status == "Accepted":
            self.reserved_until_s.pop(int(payload["reservationId"]), None)
        return {"status": answer.status}

    def expired(self) -> list[int]:
        """The accepted reservations the session side no longer holds, past their expiry
        (forgotten once said). One gone before its expiry was used by its card: nothing to say."""
        live, now_s = self.link.status.reservation_ids(), self.link.now_s()
        found = []
        for reservation_id, until_s in list(self.reserved_until_s.items()):
            if reservation_id not in live:
                del self.reserved_until_s[reservation_id]
                if now_s >= until_s:
                    found.append(reservation_id)
        return found

    @on("DataTransfer")
    async def on_data_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.link.log.info("DataTransfer for no vendor here", vendor_id=payload.get("vendorId"))
        return {"status": "UnknownVendorId"}


async def run_followup(session: Session201, followup: Followup) -> None:
    """Do what a handler staged, once its answer is out."""
    if isinstance(followup, Trigger):
        await _triggered(session, followup)
    elif isinstance(followup, Reboot) and followup.kind == ON_IDLE:
        if not session.link.reset_scheduled:  # else this connection waits for it already
            session.link.reset_scheduled = True
            start_scheduled_reset(session)
    elif isinstance(followup, Reboot):
        await _reboot(session.link, followup.kind)
    elif isinstance(followup, UploadLog):
        await start_upload(session, followup)


async def report_expired_reservations(session: Session201) -> None:
    """ReservationStatusUpdate (Expired) for each reservation that ran out unused."""
    while True:
        for reservation_id in session.station.remote.expired():
            update = {"reservationId": reservation_id, "reservationUpdateStatus": "Expired"}
            await session.call_quietly("ReservationStatusUpdate", update)
        await asyncio.sleep(RESERVATION_POLL_S)


def start_scheduled_reset(session: Session201) -> None:
    """Wait for the transactions to end, then reset (a Reset OnIdle). It may take hours: in a
    task of its own, so the follow-ups after it (a TriggerMessage's message) are not held up;
    ended with the connection, and started again by the next one (``reset_scheduled``)."""
    session.start(_reboot(session.link, ON_IDLE))


async def _reboot(link: IdentityLink, kind: str) -> None:
    mine = link.topology.connectors(link.identity)

    def busy() -> list[str]:
        return [v.connector_id for v in link.status.connectors_of(mine) if in_transaction(v)]

    # OnIdle: the transactions end as they would have (the EV leaves, the driver stops); the
    # views are polled as the status loop does.
    while True:
        if kind != ON_IDLE or not busy():
            break
        await asyncio.sleep(IDLE_POLL_S)
    for connector_id in busy():
        link.commands.submit(StopSession(connector_id, Origin.CSMS, StopReason.HARD_RESET))
    link.booted, link.boot_reason = False, "RemoteReset"
    link.reset_scheduled = False  # an Immediate one does a scheduled one's reset too
    raise RebootRequested(kind)


def in_transaction(view: ConnectorView) -> bool:
    return bool(view.session_id or view.transaction_id)


async def _triggered(session: Session201, trigger: Trigger) -> None:
    if trigger.message == "BootNotification":
        await session.boot("Triggered")
    elif trigger.message == "Heartbeat":
        await session.heartbeat()
    elif trigger.message == "StatusNotification":
        for current in session.current_statuses():
            if trigger.connector in (None, current.evse_id):
                await session.call_quietly("StatusNotification", current.payload(session.now_iso()))
    elif trigger.message == "FirmwareStatusNotification":
        # Firmware updates are not offered, so the honest status is always Idle.
        await session.call_quietly("FirmwareStatusNotification", {"status": "Idle"})
    elif trigger.message == "LogStatusNotification":
        await session.call_quietly("LogStatusNotification", log_status(session.link))
    elif trigger.message == "SignChargingStationCertificate":
        await send_sign_certificate(session)
    elif trigger.message in METERED and session.link.metering is not None:
        await _metered(session, session.link.metering, trigger)


async def _metered(session: Session201, metering: Metering, trigger: Trigger) -> None:
    """MeterValues: each EVSE's readings now; TransactionEvent: an Updated event of each
    running transaction (triggerReason Trigger), through the outbox as every sample."""
    if trigger.message == "TransactionEvent":
        if await metering.record_triggered(trigger.connector):
            session.sender.wake()  # queued past the session side, which wakes it otherwise
        return
    connection = session.rendering_link.connection
    for evse_id, event in metering.triggered_samples(trigger.connector):
        payload = render.meter_values(evse_id, event, connection)
        await session.call_quietly("MeterValues", payload)
