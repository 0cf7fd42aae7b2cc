"""CSMS-initiated operations on connectors: remote start/stop, availability, reset, triggers."""

from __future__ import annotations

from typing import Any

from edge_controller.domain.commands import (
    Origin,
    StartReason,
    StartSession,
    StopReason,
    StopSession,
)
from edge_controller.domain.sessions.reservations import any_connector_of
from edge_controller.domain.sessions.tokens import InvalidToken, masked, normalize_id_tag
from edge_controller.domain.snapshot import Availability, ConnectorView
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.handlers.smart import floats
from edge_controller.uplink.link import (
    CostWatch,
    IdentityLink,
    Reboot,
    Trigger,
    UploadDiagnostics,
)
from edge_controller.uplink.ocpp_compat import Action, call_result, camel
from edge_controller.uplink.rpc import on
from edge_controller.uplink.topology import UnknownConnector
from edge_controller.uplink.v16 import charging_profiles, costmsg
from edge_controller.uplink.v16.cost_triggers import TriggerState

# The hardware says no: no start is offered there. Everything else the session side decides.
OUT_OF_ORDER = (Availability.FAULTED, Availability.UNAVAILABLE)
TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    }
)


class RemoteHandlers:
    link: IdentityLink

    def _views(self) -> dict[str, ConnectorView]:
        mine = self.link.topology.connectors(self.link.identity)
        return {v.connector_id: v for v in self.link.status.connectors_of(mine)}

    def _local_id(self, connector: int) -> str | None:
        try:
            return self.link.topology.connector_id(self.link.identity, connector)
        except UnknownConnector:
            return None

    def _start_candidates(self, connector: int | None) -> list[str]:
        """The connectors a remote start may go to (the one named, else every one of this
        identity, in number order): operative and not out of order. Which of them is free is
        the session side's decision, taken from its own states when it answers."""
        views = self._views()
        order = self.link.topology.connectors(self.link.identity)
        numbers = [connector] if connector is not None else range(1, len(order) + 1)
        found = []
        for number in numbers:
            local = self._local_id(number)
            view = views.get(local) if local is not None else None
            if view is None or view.availability in OUT_OF_ORDER:
                continue
            if not self.link.config.inoperative(number):
                found.append(view.connector_id)
        return found

    @on(Action.remote_start_transaction)
    async def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        rejected = call_result.RemoteStartTransaction(status="Rejected")
        try:
            tag = normalize_id_tag(id_tag)
        except InvalidToken:
            return rejected
        usable, profile = self._remote_profile(charging_profile)
        candidates = self._start_candidates(connector_id) if self.link.accepted else []
        if not candidates or not usable:
            return rejected
        command = StartSession(
            candidates[0] if connector_id is not None else any_connector_of(self.link.identity),
            tag,
            Origin.CSMS,
            authorize_first=self.link.config.get("AuthorizeRemoteTxRequests") == "true",
            any_of=() if connector_id is not None else tuple(candidates),
            reason=StartReason.REMOTE_START,
        )
        # Accepted only when the session side holds a connector for this start now: it starts
        # once the EV is there, or gives up after ConnectionTimeOut (and the status says so).
        result = await self.link.commands.decide(command)
        chosen = result.connector_id
        self.link.log.info("RemoteStartTransaction answered", token=masked(tag),
                           connector_id=chosen, accepted=result.ok,
                           reason=result.error)  # fmt: skip
        if not result.ok or chosen is None:
            return rejected
        if profile is not None and self.link.smart is not None:
            self.link.smart.store.install(self.link.topology.locate(chosen).connector, profile)
        return call_result.RemoteStartTransaction(status="Accepted")

    def _remote_profile(self, profile: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
        """Whether a TxProfile sent with RemoteStartTransaction is usable, and the profile to
        install once a connector is chosen (None: none was sent)."""
        if profile is None:
            return True, None
        raw: dict[str, Any] = floats(camel(profile))
        if self.link.smart is None or raw.get("chargingProfilePurpose") != "TxProfile":
            return False, None
        try:
            charging_profiles.parse(1, raw)
        except (KeyError, ValueError, TypeError):
            return False, None
        return True, raw

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        if self.link.accepted:
            for view in self._views().values():
                if view.session_id is None or not view.session_id.isdigit():
                    continue
                remote = await self.link.outbox.remote_transaction_id(int(view.session_id))
                if remote == transaction_id:
                    stop = StopSession(view.connector_id, Origin.CSMS, StopReason.REMOTE)
                    ok = self.link.commands.submit(stop)
                    return call_result.RemoteStopTransaction(
                        status="Accepted" if ok else "Rejected"
                    )
        return call_result.RemoteStopTransaction(status="Rejected")

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        numbers = self.link.connector_numbers() if connector_id == 0 else [connector_id]
        if connector_id != 0 and self._local_id(connector_id) is None:
            return call_result.ChangeAvailability(status="Rejected")
        self.link.config.set_operative(connector_id, type == "Operative")
        if type == "Operative" and connector_id == 0:
            for number in numbers:
                self.link.config.set_operative(number, True)
        # Only going out of service waits for a running transaction; Operative takes effect
        # at once (and cancels an Inoperative still waiting for the transaction's end).
        views = self._views()
        busy = type == "Inoperative" and any(
            (local := self._local_id(n)) in views and views[local].session_id for n in numbers
        )
        return call_result.ChangeAvailability(status="Scheduled" if busy else "Accepted")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        self.link.stage(Reboot(type))
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock(self, connector_id: int, **_: Any) -> Any:
        # No charger port offers an unlock; say so rather than pretend.
        return call_result.UnlockConnector(status="NotSupported")

    @on(Action.trigger_message)
    def on_trigger(self, requested_message: str, connector_id: int | None = None, **_: Any) -> Any:
        metering = requested_message == "MeterValues" and self.link.metering is not None
        if requested_message not in TRIGGERABLE and not metering:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and connector_id != 0 and self._local_id(connector_id) is None:
            return call_result.TriggerMessage(status="Rejected")
        self.link.stage(Trigger(requested_message, connector_id))
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self, location: str, retries: int = 0, retry_interval: int = 60, **_: Any
    ) -> Any:
        stamp = (
            to_iso(self.link.clock.now_s(self.link.now_s())).replace(":", "").replace("-", "")[:15]
        )
        name = f"diagnostics-{self.link.identity}-{stamp}.zip"
        self.link.stage(UploadDiagnostics(location, name, min(retries, 5), float(retry_interval)))
        return call_result.GetDiagnostics(file_name=name)

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
    ) -> Any:
        prices = self.link.prices
        if vendor_id != costmsg.VENDOR_ID or prices is None:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id not in costmsg.MESSAGE_IDS:
            return call_result.DataTransfer(status="UnknownMessageId")
        try:
            found = costmsg.parse(message_id, data)
        except ValueError as exc:
            self.link.log.warning("cost message refused", message_id=message_id, error=str(exc))
            return call_result.DataTransfer(status="Rejected")
        if isinstance(found, costmsg.UserPrice):
            taken = await prices.user_price(found.id_tag, found.text)
        else:
            taken = await prices.transaction_cost(found.transaction_id, found.cost)
            if taken:
                await self._watch_cost(found)
        if not taken:
            self.link.log.info("cost message for no session here", message_id=message_id)
        return call_result.DataTransfer(status="Accepted" if taken else "Rejected")

    async def _watch_cost(self, found: costmsg.TransactionCost) -> None:
        """A RunningCost's trigger and next period, watched by the session's status loop until
        the next cost message of that transaction replaces them or the transaction ends."""
        watches, metering = self.link.cost_watches, self.link.metering
        watches.pop(found.transaction_id, None)
        wanted = found.trigger is not None or found.next_period is not None
        if found.cost.final or not wanted or metering is None:
            return
        connector = await metering.connector_of(found.transaction_id)
        if connector is None:
            return
        trigger = None
        if found.trigger is not None:
            trigger = TriggerState(found.trigger, last_status=self.link.reported.get(connector))
        watches[found.transaction_id] = CostWatch(connector, found.cost, trigger, found.next_period)

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        if self.link.auth_lists is None:
            return call_result.ClearCache(status="Rejected")
        await self.link.auth_lists.clear_cache()
        self.link.log.info("authorization cache cleared by CSMS")
        return call_result.ClearCache(status="Accepted")
