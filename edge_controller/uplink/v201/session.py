"""Everything that happens on one open OCPP 2.0.1/2.1 connection of one identity.

Order: BootNotification (reason PowerUp) until Accepted, once per process (a reconnect does not
boot again), then fresh StatusNotifications per EVSE and Heartbeats (in the connection's own
task, ``pacing.keep_up``), the outbox sender as TransactionEvents, and follow-ups (a task while
there are some), in one TaskGroup. Any failure ends the TaskGroup; the caller reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from edge_controller.domain.sessions.authorization import AuthEntry, AuthResult, AuthStatus
from edge_controller.domain.sessions.events import TokenType
from edge_controller.uplink.clock import from_iso, to_iso
from edge_controller.uplink.dialect import OCPP21
from edge_controller.uplink.link import Followup, IdentityLink
from edge_controller.uplink.outbox.sender import OutboxSender
from edge_controller.uplink.pacing import FollowupRunner, StatusWatch, keep_up_with_followups
from edge_controller.uplink.rpc import CallFailed
from edge_controller.uplink.v16.render import Connection
from edge_controller.uplink.v201 import render
from edge_controller.uplink.v201.logs import report_interrupted_upload
from edge_controller.uplink.v201.monitoring import evse_statuses
from edge_controller.uplink.v201.online import OnlinePeriods
from edge_controller.uplink.v201.remote import (
    report_expired_reservations,
    run_followup,
    start_scheduled_reset,
)
from edge_controller.uplink.v201.station import Station201
from edge_controller.uplink.v201.status import EvseStatus
from edge_controller.uplink.v201.tariffs import take_driver_tariff
from edge_controller.uplink.wakeup import Wakeup

STATUS_POLL_S = 1.0
BOOT_RETRY_S = 30.0
_KNOWN_STATUSES = {s.value for s in AuthStatus}


class Session201:
    def __init__(
        self,
        link: IdentityLink,
        station: Station201,
        wakeup: Wakeup,
        statuses: StatusWatch | None = None,
    ) -> None:
        """``statuses``: the uplink's, which has the statuses reported when they change
        (without: this connection looks each second)."""
        self.link = link
        self.station = station
        self._statuses = statuses
        if link.online_periods is None:
            link.online_periods = OnlinePeriods(None, link.now_s())
        self.periods = link.online_periods
        self.rendering_link = render.Link201(
            Connection(link.topology, link.clock), self.periods.offline,
            v21=station.rpc.dialect is OCPP21,
        )  # fmt: skip
        costs = None if link.prices is None else link.prices.session_cost
        rendering = render.Ocpp201Rendering(self.rendering_link, costs, link.commands.submit)
        self.sender = OutboxSender(link, station.rpc, wakeup, rendering)
        station.settle_acks = self.sender.acks.flush
        self._last_status: dict[int, EvseStatus] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.group: asyncio.TaskGroup | None = None
        self.log_task: asyncio.Task[None] | None = None  # the GetLog upload running
        self._followups: FollowupRunner | None = None

    def start(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``job`` beside the session's work, ended with it."""
        assert self.group is not None, "the session runs"
        task = self.group.create_task(job)
        self.tasks.append(task)
        return task

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.station.rpc.call(action, payload)

    async def call_quietly(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """For messages the CSMS may refuse without consequence: log, and go on."""
        try:
            return await self.call(action, payload)
        except (CallFailed, TimeoutError) as exc:
            self.link.log.warning("CSMS did not take a message", action=action, error=repr(exc))
            return None

    def now_iso(self) -> str:
        return to_iso(self.link.clock.now_s(self.link.now_s()))

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self.group = group
                self.tasks.append(group.create_task(self.station.rpc.run()))
                if self.link.booted:
                    self.link.accepted = True
                else:
                    await self.boot(self.link.boot_reason)
                if self.link.reset_scheduled:  # on a connection before this one
                    start_scheduled_reset(self)
                # Written before the first event is rendered on this connection.
                self.periods.up(self.link.now_s())
                reports = self.station.variables.send_reports(self.call)
                profiles = self.station.smart.send_reports(self.call)
                expiries = report_expired_reservations(self)
                cut_off = report_interrupted_upload(self)
                for job in (reports, profiles, expiries, cut_off):
                    self.tasks.append(group.create_task(job))
                self.sender.start(group)
                if self.link.display is not None:
                    messages = self.link.display.send_reports(self.call)
                    self.tasks.append(group.create_task(messages))
                if self.station.streams is not None:
                    streams = self.station.streams.run(self.station.rpc)
                    self.tasks.append(group.create_task(streams))
                self._followups = FollowupRunner(self.link, group, self._run_followup)
                await keep_up_with_followups(
                    self.link, self._followups, self.report_statuses, self.heartbeat,
                    STATUS_POLL_S, watch=self._statuses,
                )  # fmt: skip
        finally:
            self.sender.stop()
            self.periods.down(self.link.now_s())

    def cancel_tasks(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.sender.cancel()
        if self._followups is not None:
            self._followups.cancel()

    async def boot(self, reason: str) -> None:
        settings = self.link.settings
        station: dict[str, Any] = {
            "model": settings.charge_point_model,
            "vendorName": settings.charge_point_vendor,
        }
        if settings.firmware_version:
            station["firmwareVersion"] = settings.firmware_version
        while True:
            result = await self.call(
                "BootNotification", {"chargingStation": station, "reason": reason}
            )
            await self.link.synced(result["currentTime"])
            interval = int(result["interval"])
            if result["status"] == "Accepted":
                if interval > 0:
                    self.link.config.follow("HeartbeatInterval", str(interval))
                self.link.accepted = self.link.booted = True
                self.link.info_repeated("boot accepted", interval_s=interval)
                return
            self.link.log.warning("boot not accepted", status=result["status"])
            await asyncio.sleep(interval if interval > 0 else BOOT_RETRY_S)

    async def _run_followup(self, followup: Followup) -> None:
        await run_followup(self, followup)

    async def heartbeat(self) -> None:
        result = await self.call_quietly("Heartbeat", {})
        if result is not None:
            await self.link.synced(result["currentTime"])

    def current_statuses(self) -> list[EvseStatus]:
        return evse_statuses(self.link)

    async def report_statuses(self) -> None:
        """The statuses changed since the last report (every status after a connect)."""
        for current in self.current_statuses():
            if self._last_status.get(current.evse_id) != current:
                await self.call_quietly("StatusNotification", current.payload(self.now_iso()))
                self._last_status[current.evse_id] = current

    async def authorize(self, id_tag: str, *, key_code: bool = False) -> AuthResult:
        """Ask the CSMS about a card's token, or a typed code's as a KeyCode (raises as
        ``RpcEndpoint.call``)."""
        kind = TokenType.KEY_CODE if key_code else TokenType.CARD
        token = render.id_token(id_tag, kind, v21=self.rendering_link.v21)
        result = await self.call("Authorize", {"idToken": token})
        await take_driver_tariff(self.link, id_tag, result)
        info = result["idTokenInfo"]
        status = str(info["status"])
        # The 2.x statuses 1.6 lacks (Unknown, NoCredit...) refuse the token as Invalid does.
        kept = AuthStatus(status) if status in _KNOWN_STATUSES else AuthStatus.INVALID
        expiry = info.get("cacheExpiryDateTime")
        group = info.get("groupIdToken")
        return AuthEntry(
            id_tag=id_tag,
            token_type=token["type"],
            status=kept,
            expiry_at_s=from_iso(expiry) if isinstance(expiry, str) else None,
            parent_id_tag=str(group["idToken"]) if isinstance(group, dict) else None,
        )
