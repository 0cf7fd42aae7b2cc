"""Adapters between the OCPP uplink's small Protocols and the site's services."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import Mapping

from edge_controller.api.codec import site_to_json
from edge_controller.app_parts import CommandRouter, SiteViews
from edge_controller.domain.authorization import AuthEntry, AuthStatus
from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.model import Limit
from edge_controller.domain.snapshot import ConnectorView
from edge_controller.log import get_logger
from edge_controller.services.session_manager import SessionManager
from edge_controller.services.session_recorder import SessionRecorder
from edge_controller.services.site_controller import SiteController
from edge_controller.settings import Settings
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.sessions_store import QueuedMessage
from edge_controller.uplink.ports import MeterSample, SessionSample
from edge_controller.uplink.topology import Topology

log = get_logger("uplink.adapters")


class UplinkCommands:
    """The uplink's non-blocking command sink: a bounded queue worked off by its own task.
    Overflow policy: a full queue refuses the command (the CSMS gets Rejected)."""

    def __init__(self, router: CommandRouter, maxsize: int = 64) -> None:
        self._router = router
        self._queue: asyncio.Queue[Command] = asyncio.Queue(maxsize)

    def submit(self, command: Command) -> bool:
        try:
            self._queue.put_nowait(command)
        except asyncio.QueueFull:
            return False
        return True

    async def decide(self, command: Command) -> CommandResult:
        result = await self._router.submit(command)
        if not result.ok:
            log.info("csms command refused", command=type(command).__name__, error=result.error)
        return result

    async def run(self) -> None:
        while True:
            command = await self._queue.get()
            result = await self._router.submit(command)
            if not result.ok:
                log.warning("csms command not applied", command=repr(command), error=result.error)


class ConnectorStatus:
    def __init__(self, views: SiteViews) -> None:
        self._views = views

    def connectors(self) -> tuple[ConnectorView, ...]:
        return self._views.current().connectors

    def reservation_ids(self) -> frozenset[int]:
        return self._views.reservation_ids()


class ConnectorMeters:
    """Meter samples for MeterValues from the control loop's latest built-in meter readings."""

    def __init__(self, controller: SiteController) -> None:
        self._controller = controller

    def sample(self, connector_id: str) -> MeterSample | None:
        reading = self._controller.latest_meter(connector_id)
        if reading is None:
            return None
        offered = next(
            (c.offered_current_a for c in self._controller.snapshot().connectors
             if c.connector_id == connector_id),
            None,
        )  # fmt: skip
        return MeterSample(
            at_s=reading.at_s,
            energy_register_wh=reading.import_energy_wh,
            power_w=reading.total_power_w,
            current_a=reading.current_a,
            voltage_v=reading.voltage_v,
            offered_current_a=offered,
        )


class SessionSampleRecorder:
    """The uplink's samples of running sessions go through the session recorder: the register
    is kept as the session's last known one in the same commit as the MeterValues message."""

    def __init__(self, recorder: SessionRecorder) -> None:
        self._recorder = recorder

    async def record_sample(self, sample: SessionSample) -> bool:
        messages = (
            (QueuedMessage(sample.identity, "MeterValues", sample.payload, "sample"),)
            if sample.payload is not None
            else ()
        )
        return await self._recorder.record_sample(
            sample.session_local_id, sample.connector_id, sample.at_s,
            (sample.energy_wh, sample.context), messages,
        )  # fmt: skip


class CsmsLimits:
    """Charging-profile limits become external limits of the balancer, never setpoints.

    A total for a site-wide identity caps the grid connection; a total for one charger's
    identity is shared equally by its connectors (safe: the sum never exceeds it)."""

    def __init__(self, controller: SiteController, topology: Topology, site_wide: bool) -> None:
        self._controller, self._topology, self._site_wide = controller, topology, site_wide

    def set_external_limits(
        self, scope: str, connectors: Mapping[str, Limit], total: Limit | None
    ) -> None:
        ids = self._topology.connectors(scope)
        for cid in ids:
            limits = [connectors[cid]] if cid in connectors else []
            if total is not None and not self._site_wide:
                limits.append(Limit(total.current_a / len(ids), f"{total.source} (shared)"))
            self._controller.set_external_limits(cid, limits)
        if self._site_wide:
            self._controller.set_site_cap(total)


class TransactionConfirmations:
    """StartTransaction answers reach the session side (StopTransactionOnInvalidId)."""

    def __init__(self, sessions: SessionManager, connector_ids: list[str]) -> None:
        self._sessions, self._ids = sessions, connector_ids
        self._queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(256)

    def transaction_confirmed(
        self, session_local_id: int, transaction_id: int, id_tag_status: str
    ) -> None:
        if id_tag_status == AuthStatus.ACCEPTED.value:
            return
        try:
            self._queue.put_nowait((session_local_id, id_tag_status))
        except asyncio.QueueFull:
            log.error("too many rejected transactions pending", transaction_id=transaction_id)

    async def run(self) -> None:
        while True:
            local_id, status = await self._queue.get()
            for cid in self._ids:
                record = self._sessions.open_session(cid)
                if record is not None and record.local_id == local_id:
                    entry = AuthEntry(record.id_tag, AuthStatus(status))
                    await self._sessions.on_remote_auth_result(record.id_tag, entry)


class Diagnostics:
    """The GetDiagnostics bundle: config without secrets, live status, storage figures."""

    def __init__(self, settings: Settings, views: SiteViews, outbox: Outbox) -> None:
        self._settings, self._views, self._outbox = settings, views, outbox

    async def files(self) -> Mapping[str, bytes]:
        config = self._settings.model_dump(mode="json")  # SecretStr dumps masked
        stats = dataclasses.asdict(await self._outbox.stats())
        db = self._settings.database_path
        usage = shutil.disk_usage(db.parent)
        storage = {
            "database_bytes": db.stat().st_size if db.exists() else None,
            "disk_free_bytes": usage.free,
            "outbox": stats,
        }
        return {
            "config.json": json.dumps(config, indent=2, default=str).encode(),
            "status.json": json.dumps(site_to_json(self._views.current()), indent=2).encode(),
            "storage.json": json.dumps(storage, indent=2, default=str).encode(),
        }
