"""Everything that happens on one open connection of one identity.

Order: BootNotification until Accepted (nothing else is sent before), then fresh
StatusNotifications and Heartbeats (in the connection's own task, ``pacing.keep_up``), the
outbox sender and CSMS-triggered follow-ups (a task while there are some), all in one
TaskGroup. The sender and the follow-ups run in tasks made while they have work. Any failure
ends the TaskGroup; the caller reconnects.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from edge_controller.domain.commands import Origin, StopReason, StopSession
from edge_controller.uplink import diagnostics
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.handlers.security import SIGN_16, CertificateOps
from edge_controller.uplink.link import (
    Followup,
    IdentityLink,
    Reboot,
    Trigger,
    UploadDiagnostics,
    UploadLog,
)
from edge_controller.uplink.ocpp_compat import call
from edge_controller.uplink.outbox.sender import OutboxSender
from edge_controller.uplink.pacing import FollowupRunner, StatusWatch, keep_up_with_followups
from edge_controller.uplink.rpc import CallFailed
from edge_controller.uplink.v16 import status as status_mod
from edge_controller.uplink.v16.charge_point import EdgeChargePoint
from edge_controller.uplink.v16.cost_triggers import due
from edge_controller.uplink.v16.render import Connection, Ocpp16Rendering
from edge_controller.uplink.v201 import logs
from edge_controller.uplink.wakeup import Wakeup

STATUS_POLL_S = 1.0
BOOT_RETRY_S = 30.0


class RebootRequested(Exception):
    """The CSMS asked for a Reset: close the connection and boot again."""


class LinkSession:
    def __init__(
        self,
        link: IdentityLink,
        cp: EdgeChargePoint,
        wakeup: Wakeup,
        statuses: StatusWatch | None = None,
    ) -> None:
        """``statuses``: the uplink's, which has the statuses reported when they change
        (without: this connection looks each second)."""
        self.link = link
        self.cp = cp
        self._statuses = statuses
        rendering = Ocpp16Rendering(Connection(link.topology, link.clock))
        self.sender = OutboxSender(link, cp.rpc, wakeup, rendering)
        self._last_status: dict[int, status_mod.ConnectorStatus] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self._followups: FollowupRunner | None = None

    async def call(self, request: Any) -> Any:
        return await self.cp.call(request)

    async def call_quietly(self, request: Any) -> Any | None:
        """For messages the CSMS may refuse without consequence: log, and go on."""
        try:
            return await self.call(request)
        except (CallFailed, TimeoutError) as exc:
            action = type(request).__name__
            self.link.log.warning("CSMS did not take a message", action=action, error=repr(exc))
            return None

    def now_iso(self) -> str:
        return to_iso(self.link.clock.now_s(self.link.now_s()))

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self.tasks.append(group.create_task(self.cp.rpc.run()))
                await self.boot()
                self.sender.start(group)
                cut_off = logs.report_interrupted(self.link, self._log_status)
                self.tasks.append(group.create_task(cut_off))
                self._followups = FollowupRunner(self.link, group, self.run_followup)
                await keep_up_with_followups(
                    self.link, self._followups, self.report_statuses, self.heartbeat,
                    STATUS_POLL_S, watch=self._statuses,
                )  # fmt: skip
        finally:
            self.sender.stop()

    def cancel_tasks(self) -> None:
        """Cancel every task again (a 3.11 wait_for inside the library can swallow one)."""
        for task in self.tasks:
            task.cancel()
        self.sender.cancel()
        if self._followups is not None:
            self._followups.cancel()

    async def boot(self) -> None:
        settings = self.link.settings
        request = call.BootNotification(
            charge_point_model=settings.charge_point_model,
            charge_point_vendor=settings.charge_point_vendor,
            firmware_version=settings.firmware_version,
        )
        while True:
            result = await self.call(request)
            await self.link.synced(result.current_time)
            if result.status == "Accepted":
                if result.interval > 0:
                    self.link.config.follow("HeartbeatInterval", str(int(result.interval)))
                self.link.accepted = True
                self.link.info_repeated("boot accepted", interval_s=result.interval)
                return
            self.link.log.warning("boot not accepted", status=result.status)
            await asyncio.sleep(result.interval if result.interval > 0 else BOOT_RETRY_S)

    async def heartbeat(self) -> None:
        result = await self.call_quietly(call.Heartbeat())
        if result is not None:
            await self.link.synced(result.current_time)

    def current_statuses(self) -> list[status_mod.ConnectorStatus]:
        config = self.link.config
        local_ids = self.link.topology.connectors(self.link.identity)
        views = {s.connector_id: s for s in self.link.status.states_of(local_ids)}
        faults = self.link.station_faults() if self.link.station_faults is not None else ()
        found = [status_mod.charge_point_status(config.inoperative(0), faults)]
        for number, local in enumerate(local_ids, start=1):
            view = views.get(local)
            if view is not None:  # not read yet: not "Unavailable", just not known
                found.append(status_mod.connector_status(number, view, config.inoperative(number)))
        return found

    async def report_statuses(self) -> None:
        """The statuses changed since the last report (every status after a connect)."""
        for current in self.current_statuses():
            if self._last_status.get(current.connector) != current:
                await self.send_status(current)
        await self.watch_costs()  # after the statuses: an atCPStatus follows its report

    async def watch_costs(self) -> None:
        """The costmsg RunningCost triggers met now send MeterValues; a next period that has
        started is shown with the last running cost."""
        link, metering = self.link, self.link.metering
        if not link.cost_watches or metering is None:
            return
        now_s = link.clock.now_s(link.now_s())
        for transaction_id, watch in list(link.cost_watches.items()):
            if not metering.running(watch.connector):
                del link.cost_watches[transaction_id]
                continue
            sample = metering.sample_of(watch.connector)
            energy_wh = None if sample is None else sample.energy_register_wh
            power_w = None if sample is None else sample.power_w
            status = link.reported.get(watch.connector)
            # The new prices are shown first: a MeterValues call may wait on the CSMS.
            period = watch.next_period
            if period is not None and now_s >= period.at_s and link.prices is not None:
                watch.next_period = None
                shown = replace(watch.cost, price_text=period.price_text)
                await link.prices.transaction_cost(transaction_id, shown)
            if watch.trigger is not None and due(watch.trigger, now_s, energy_wh, power_w, status):
                link.log.info("cost trigger met, meter values sent", transaction_id=transaction_id,
                              met=watch.trigger.met[-1])  # fmt: skip
                await metering.triggered(watch.connector, self.call)

    async def send_status(self, current: status_mod.ConnectorStatus) -> None:
        previous = self.link.reported.get(current.connector)
        for step in status_mod.steps(previous, current):
            payload = step.payload(self.now_iso())
            await self.call_quietly(call.StatusNotification(**_snake(payload)))
            self.link.reported[current.connector] = step.status
        # A refused status is not retried (it is not transaction data): the next change is sent,
        # and every reconnect sends the whole current status again.
        self._last_status[current.connector] = current

    async def run_followup(self, followup: Followup) -> None:
        if isinstance(followup, Trigger):
            await self.triggered(followup)
        elif isinstance(followup, UploadDiagnostics):
            await self.upload_diagnostics(followup)
        elif isinstance(followup, UploadLog):
            await logs.run_upload(self.link, followup, self._log_status)
        elif isinstance(followup, Reboot):
            reason = StopReason.HARD_RESET if followup.kind == "Hard" else StopReason.SOFT_RESET
            mine = self.link.topology.connectors(self.link.identity)
            for view in self.link.status.connectors_of(mine):
                if view.session_id:
                    self.link.commands.submit(StopSession(view.connector_id, Origin.CSMS, reason))
            raise RebootRequested(followup.kind)

    async def _log_status(self, status: str, request_id: int) -> None:
        await self.call_quietly(call.LogStatusNotification(status=status, request_id=request_id))

    async def _diagnostics_status(self, status: str) -> None:
        self.link.diagnostics_status = status
        await self.call_quietly(call.DiagnosticsStatusNotification(status=status))

    async def upload_diagnostics(self, job: UploadDiagnostics) -> None:
        await self._diagnostics_status("Uploading")
        data = await diagnostics.collect(self.link)
        where = diagnostics.safe_location(job.location)
        for attempt in range(job.retries + 1):
            try:
                await diagnostics.upload(job.location, job.file_name, data)
            except diagnostics.UploadFailed as exc:
                self.link.log.warning("diagnostics upload failed", location=where, error=str(exc))
                if attempt < job.retries:
                    await asyncio.sleep(job.retry_interval_s)
                continue
            self.link.log.info("diagnostics uploaded", location=where, bytes=len(data))
            await self._diagnostics_status("Uploaded")
            return
        await self._diagnostics_status("UploadFailed")

    async def triggered(self, trigger: Trigger) -> None:
        if trigger.message == "BootNotification":
            await self.boot()
        elif trigger.message == "Heartbeat":
            await self.heartbeat()
        elif trigger.message == "StatusNotification":
            for current in self.current_statuses():
                if trigger.connector in (None, current.connector):
                    await self.send_status(current)
        elif trigger.message == "DiagnosticsStatusNotification":
            status = self.link.diagnostics_status
            await self.call_quietly(call.DiagnosticsStatusNotification(status=status))
        elif trigger.message == "MeterValues" and self.link.metering is not None:
            await self.link.metering.triggered(trigger.connector, self.call)
        elif trigger.message == "FirmwareStatusNotification":
            # Firmware updates are not offered, so the honest status is always Idle.
            await self.call_quietly(call.FirmwareStatusNotification(status="Idle"))
        elif trigger.message == "LogStatusNotification":
            # The upload running, else Idle for no request (requestId left out).
            state = logs.log_status(self.link)
            request_id = state.get("requestId")
            await self.call_quietly(
                call.LogStatusNotification(status=state["status"], request_id=request_id)
            )
        elif trigger.message == SIGN_16:
            await self.sign_certificate()

    async def sign_certificate(self) -> None:
        """SignCertificate (security extension) with a CSR for a key made on the gateway."""
        csr = CertificateOps(self.link).csr()
        if csr is not None:
            answer = await self.call_quietly(call.SignCertificate(csr=csr))
            status = getattr(answer, "status", None)
            self.link.log.info("SignCertificate answered", status=status)


def _snake(payload: dict[str, object]) -> dict[str, Any]:
    names = {
        "connectorId": "connector_id",
        "errorCode": "error_code",
        "vendorErrorCode": "vendor_error_code",
    }
    return {names.get(k, k): v for k, v in payload.items()}
