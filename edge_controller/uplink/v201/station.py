"""The OCPP 2.0.1/2.1 station on one websocket: the CSMS-initiated operations on an RPC endpoint.

Handlers take and return payloads as on the wire. Remote starts and stops go through the same
command port and authorization rule as 1.6's (``AuthorizeRemoteTxRequests`` is one store with
the 1.6 keys). Handlers never await an outgoing CALL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from edge_controller.domain.commands import (
    Origin,
    StartReason,
    StartSession,
    StopReason,
    StopSession,
)
from edge_controller.domain.display_messages import SUPPORTED_FORMATS, MessageFormat
from edge_controller.domain.sessions.reservations import any_connector_of
from edge_controller.domain.sessions.tokens import InvalidToken, masked, normalize_id_tag
from edge_controller.domain.snapshot import Availability, ConnectorView
from edge_controller.uplink.device_model import DeviceModel, Variable, station_variables
from edge_controller.uplink.device_model.catalog import (
    CURRENCY,
    NETWORK_PRIORITY,
    display_variables,
)
from edge_controller.uplink.dialect import OCPP16, OCPP21, OCPP201, UnknownSubprotocol, negotiated
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ports import Station
from edge_controller.uplink.rpc import Connection, HandlersOf, Limits, RpcEndpoint, on
from edge_controller.uplink.topology import UnknownConnector
from edge_controller.uplink.v201.display import MAX_MESSAGES
from edge_controller.uplink.v201.logs import LogHandlers201
from edge_controller.uplink.v201.monitoring import (
    AVAILABILITY_STATE,
    POWER,
    MonitoringHandlers,
    monitored_variables,
)
from edge_controller.uplink.v201.remote import RemoteHandlers201
from edge_controller.uplink.v201.render import session_of
from edge_controller.uplink.v201.security import SecurityHandlers201
from edge_controller.uplink.v201.smart import SmartHandlers201
from edge_controller.uplink.v201.status import evse_status
from edge_controller.uplink.v201.streams import PeriodicStreams
from edge_controller.uplink.v201.tariffs import TariffHandlers201, Tariffs21
from edge_controller.uplink.v201.variables import VariableHandlers

OUT_OF_ORDER = (Availability.FAULTED, Availability.UNAVAILABLE)
REJECTED = {"status": "Rejected"}


class Station201:
    def __init__(
        self,
        link: IdentityLink,
        connection: Connection,
        site: Station | None = None,
    ) -> None:
        """``site``: its facts the device model reports."""
        self.link = link
        # Writes the acks the outbox sender holds (set by the session that runs the sender).
        self.settle_acks: Callable[[], Awaitable[None]] | None = None
        model = device_model(link, connection, site)
        self.variables = VariableHandlers(link, model)
        self.monitoring = MonitoringHandlers(link, model)
        limits = Limits(link.settings.call_timeout_s, link.settings.max_frame_bytes)
        self.smart = SmartHandlers201(link)
        self.remote = RemoteHandlers201(link)
        handlers: list[object] = [self, self.variables, self.smart, self.remote]
        handlers += [SecurityHandlers201(link), self.monitoring, LogHandlers201(link)]
        self.tariffs: TariffHandlers201 | None = None
        if link.prices is not None:
            is_21 = negotiated(connection.subprotocol) is OCPP21
            self.tariffs = (Tariffs21 if is_21 else TariffHandlers201)(link, link.prices)
            handlers.append(self.tariffs)
        if link.display is not None:
            handlers.append(link.display)
        if link.web_payments is not None:  # a 2.1 action: 2.0.1 refuses it by its schemas
            handlers.append(link.web_payments)
        self.streams: PeriodicStreams | None = None
        if negotiated(connection.subprotocol) is OCPP21:
            self.streams = PeriodicStreams(link, self.monitoring, lambda e: power_of(link, e))
            handlers.append(self.streams)
        self.rpc = RpcEndpoint(
            connection, HandlersOf(*handlers), limits, self._answered, link.config
        )
        if self.rpc.dialect is OCPP16:
            raise UnknownSubprotocol("a 1.6 connection is no 2.x station")
        self.variables.id_token_chars = self.rpc.dialect.id_token_chars

    @property
    def id_token_chars(self) -> int:
        """The longest id token the connection's version carries (2.0.1: 36, 2.1: 255)."""
        return self.rpc.dialect.id_token_chars

    def _answered(self) -> None:
        self.link.release_staged()
        self.variables.release()
        self.smart.release()
        if self.link.display is not None:
            self.link.display.release()

    def _views(self) -> dict[str, ConnectorView]:
        mine = self.link.topology.connectors(self.link.identity)
        return {v.connector_id: v for v in self.link.status.connectors_of(mine)}

    def _candidates(self, evse_id: int | None) -> list[str]:
        """Connectors a remote start may go to: the EVSE named, else every one, operative and
        not out of order (which is free the session side decides)."""
        views = self._views()
        count = len(self.link.topology.connectors(self.link.identity))
        found = []
        for number in [evse_id] if evse_id is not None else range(1, count + 1):
            try:
                local = self.link.topology.connector_id(self.link.identity, number)
            except UnknownConnector:
                continue
            view = views.get(local)
            if view is None or view.availability in OUT_OF_ORDER:
                continue
            if not self.link.config.inoperative(number):
                found.append(local)
        return found

    @on("RequestStartTransaction")
    async def on_request_start(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            tag = normalize_id_tag(str(payload["idToken"]["idToken"]), self.id_token_chars)
        except InvalidToken:
            return REJECTED
        evse_id = payload.get("evseId")
        if "chargingProfile" in payload:
            return REJECTED  # charging profiles on 2.x are not taken yet: say so, start nothing
        candidates = self._candidates(evse_id) if self.link.accepted else []
        if not candidates:
            return REJECTED
        if evse_id is not None and self.link.web_payments is not None:
            await self.link.web_payments.release(candidates[0])  # the paid start lifts its hold
        command = StartSession(
            candidates[0] if evse_id is not None else any_connector_of(self.link.identity),
            tag,
            Origin.CSMS,
            authorize_first=self.link.config.get("AuthorizeRemoteTxRequests") == "true",
            any_of=() if evse_id is not None else tuple(candidates),
            reason=StartReason.REMOTE_START,
            # Kept with the session it starts: its Started event carries it, also after a restart.
            remote_start_id=int(payload["remoteStartId"]),
            key_code=payload["idToken"]["type"] == "KeyCode",
        )
        result = await self.link.commands.decide(command)
        chosen = result.connector_id
        self.link.log.info("RequestStartTransaction answered", token=masked(tag),
                           connector_id=chosen, accepted=result.ok,
                           reason=result.error)  # fmt: skip
        if not result.ok or chosen is None:
            return REJECTED
        return {"status": "Accepted"}

    @on("RequestStopTransaction")
    async def on_request_stop(self, payload: dict[str, Any]) -> dict[str, Any]:
        wanted = session_of(str(payload["transactionId"]))
        if not self.link.accepted or wanted is None:
            return REJECTED
        for view in self._views().values():
            if _transaction_of(view) == str(wanted):
                stop = StopSession(view.connector_id, Origin.CSMS, StopReason.REMOTE)
                return {"status": "Accepted" if self.link.commands.submit(stop) else "Rejected"}
        return REJECTED

    @on("GetTransactionStatus")
    async def on_get_transaction_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Whether the transaction still runs, and whether its events (without a
        transactionId: any transaction's) still wait in the outbox. A parked event waits for
        no send: it is not counted."""
        if self.settle_acks is not None:
            await self.settle_acks()  # an ack only journaled is still pending in the table
        identity, text = self.link.identity, payload.get("transactionId")
        if text is None:
            queued = await self.link.outbox.session_backlog(identity, None)
            return {"messagesInQueue": queued > 0}
        local = session_of(str(text))
        if local is None:
            return {"ongoingIndicator": False, "messagesInQueue": False}
        ongoing = any(_transaction_of(v) == str(local) for v in self._views().values())
        queued = await self.link.outbox.session_backlog(identity, local)
        return {"ongoingIndicator": ongoing, "messagesInQueue": queued > 0}


def _transaction_of(view: ConnectorView) -> str | None:
    """The local id of the connector's open transaction: with or without a session."""
    return view.transaction_id or view.session_id


def variables_of(link: IdentityLink, site: Station | None = None) -> list[Variable]:
    """The device model of the link's station: one EVSE per connector."""
    evses = len(link.topology.connectors(link.identity))
    return station_variables(
        link.settings,
        link.identity,
        evses,
        smart=link.smart is not None,
        site=site,
        tariffs=link.prices is not None,
    )


def security_readings(
    link: IdentityLink, variables: list[Variable]
) -> dict[Variable, Callable[[], str]]:
    """Security values read live: the profile in use, the certificates installed, the
    network profiles' priority."""
    found: dict[Variable, Callable[[], str]] = {}
    by_name = {(v.component, v.name): v for v in variables if v.evse is None}
    network, store = link.network, link.certificates
    if network is not None:
        profile = by_name[("SecurityCtrlr", "SecurityProfile")]
        found[profile] = lambda: str(network.in_use().security_profile)
        priority = by_name[NETWORK_PRIORITY]
        found[priority] = lambda: ",".join(str(slot) for slot in network.priority)
    if store is not None:
        entries = by_name[("SecurityCtrlr", "CertificateEntries")]
        found[entries] = lambda: str(len(store.installed(None)))
    return found


def device_model(link: IdentityLink, connection: Connection, site: Station | None) -> DeviceModel:
    """The station's variables, with the display messages' as the version allows them."""
    variables = variables_of(link, site)
    evses = len(link.topology.connectors(link.identity))
    watched = monitored_variables(evses)
    variables += watched
    readings = {v: _availability(link, v.evse or 0) for v in watched
                if v.name == AVAILABILITY_STATE}  # fmt: skip
    readings |= {v: _power_reading(link, v.evse or 0) for v in watched if v.name == POWER}
    readings |= security_readings(link, variables)
    prices = link.prices
    if prices is not None:
        currency = next(v for v in variables if v.address() == CURRENCY)
        readings[currency] = lambda: prices.currency() or ""
    display = link.display
    if display is None:
        return DeviceModel(link.config, variables, readings)
    version_formats = [f for f in MessageFormat if f in SUPPORTED_FORMATS]
    if negotiated(connection.subprotocol) is OCPP201:
        version_formats.remove(MessageFormat.QRCODE)  # a 2.1 format
    extra = display_variables(tuple(f.value for f in version_formats), MAX_MESSAGES)
    count = next(v for v in extra if v.name == "DisplayMessages")
    readings[count] = lambda: str(display.count())
    return DeviceModel(link.config, variables + extra, readings)


def power_of(link: IdentityLink, evse: int) -> str:
    """EVSE ``evse``'s power as its meter reads it now (W; "" not measured)."""
    metering = link.metering
    connectors = link.topology.connectors(link.identity)
    if metering is None or not 1 <= evse <= len(connectors):
        return ""
    sample = metering.meters.sample(connectors[evse - 1])
    if sample is None or sample.power_w is None:
        return ""
    return str(round(sample.power_w, 1))


def _power_reading(link: IdentityLink, evse: int) -> Callable[[], str]:
    return lambda: power_of(link, evse)


def _availability(link: IdentityLink, evse: int) -> Callable[[], str]:
    """EVSE ``evse``'s AvailabilityState as its StatusNotification says it ("" not read yet)."""

    def read() -> str:
        local = link.topology.connectors(link.identity)[evse - 1]
        view = next(iter(link.status.connectors_of((local,))), None)
        return "" if view is None else evse_status(evse, view, link.config.inoperative(evse)).status

    return read
