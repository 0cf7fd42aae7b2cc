"""CSMS-initiated operations on connectors: remote start/stop, availability, reset, triggers."""

from __future__ import annotations

from typing import Any

from edge_controller.domain.commands import StartSession, StopSession
from edge_controller.domain.snapshot import Availability, ConnectorView
from edge_controller.domain.tokens import InvalidToken, normalize_id_tag
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.handlers_smart import floats
from edge_controller.uplink.link import AuthorizedStart, Link, Reboot, Trigger, UploadDiagnostics
from edge_controller.uplink.ocpp_compat import Action, call_result, camel, on
from edge_controller.uplink.topology import UnknownConnector

STARTABLE = (Availability.AVAILABLE, Availability.PREPARING)
# A reserved connector takes a remote start only when named; the session side admits the
# reserved id tag (or its group) and refuses any other.
STARTABLE_NAMED = (*STARTABLE, Availability.RESERVED)
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
    link: Link

    def _views(self) -> dict[str, ConnectorView]:
        mine = set(self.link.topology.connectors(self.link.identity))
        return {v.connector_id: v for v in self.link.status.connectors() if v.connector_id in mine}

    def _local_id(self, connector: int) -> str | None:
        try:
            return self.link.topology.connector_id(self.link.identity, connector)
        except UnknownConnector:
            return None

    def _start_target(self, connector: int | None) -> str | None:
        views = self._views()
        if connector is not None:
            local = self._local_id(connector)
            view = views.get(local) if local else None
            ok = view is not None and view.availability in STARTABLE_NAMED and not view.session_id
            return local if ok and not self.link.config.inoperative(connector) else None
        order = self.link.topology.connectors(self.link.identity)
        ready = [
            c
            for c in order
            if c in views
            and views[c].availability in STARTABLE
            and not views[c].session_id
            and not self.link.config.inoperative(order.index(c) + 1)
        ]
        plugged = [c for c in ready if views[c].availability is Availability.PREPARING]
        candidates = plugged or ready
        return candidates[0] if candidates else None

    @on(Action.remote_start_transaction)
    def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        target = self._start_target(connector_id) if self.link.accepted else None
        try:
            id_tag = normalize_id_tag(id_tag)
        except InvalidToken:
            target = None
        if target is None or not self._remote_profile(target, charging_profile):
            return call_result.RemoteStartTransaction(status="Rejected")
        if self.link.config.get("AuthorizeRemoteTxRequests") == "true":
            self.link.stage(AuthorizedStart(target, id_tag))
            return call_result.RemoteStartTransaction(status="Accepted")
        accepted = self.link.commands.submit(StartSession(target, id_tag, source="csms"))
        return call_result.RemoteStartTransaction(status="Accepted" if accepted else "Rejected")

    def _remote_profile(self, target: str, profile: dict[str, Any] | None) -> bool:
        """Install a TxProfile sent with RemoteStartTransaction; False when it is unusable."""
        if profile is None:
            return True
        raw: dict[str, Any] = floats(camel(profile))
        if self.link.smart is None or raw.get("chargingProfilePurpose") != "TxProfile":
            return False
        try:
            self.link.smart.store.install(self.link.topology.locate(target).connector, raw)
        except (KeyError, ValueError, TypeError):
            return False
        return True

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        if self.link.accepted:
            for view in self._views().values():
                if view.session_id is None or not view.session_id.isdigit():
                    continue
                remote = await self.link.outbox.remote_transaction_id(int(view.session_id))
                if remote == transaction_id:
                    ok = self.link.commands.submit(StopSession(view.connector_id, source="csms"))
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
        views = self._views()
        busy = any(
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
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        if self.link.auth_lists is None:
            return call_result.ClearCache(status="Rejected")
        await self.link.auth_lists.clear_cache()
        self.link.log.info("authorization cache cleared by CSMS")
        return call_result.ClearCache(status="Accepted")
