"""Reads the connector's meter and records session changes with their uplink messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge_controller.domain.commands import StopReason
from edge_controller.domain.model import MeterReading
from edge_controller.domain.pricing.recorded import Reading
from edge_controller.domain.sessions.state import Authorization
from edge_controller.log import get_logger
from edge_controller.ports import BuiltInMeter, DeviceError, Meter
from edge_controller.services.sessions.messages import (
    OutboxRoute,
    meter_values_message,
    start_message,
    stop_message,
)
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.sessions_store import (
    MessageToQueue,
    SessionRecord,
    SessionStart,
    SessionStore,
    StopFacts,
    TariffRef,
)

log = get_logger("sessions")
EnergySource = Meter | BuiltInMeter


@dataclass(frozen=True, slots=True)
class Energy:
    energy_wh: int
    power_w: float | None


class SessionRecorder:
    def __init__(
        self,
        store: SessionStore,
        meters: Mapping[str, EnergySource],
        route: OutboxRoute | None,
        meter_timeout_s: float = 2.0,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self._meters = meters
        self._route = route
        self._on_queued = on_queued
        self._timeout_s = meter_timeout_s
        self._last: dict[str, int] = {}  # last good energy reading per connector
        self.pricing: SessionPricing | None = None  # tariffs, running and final cost
        # StopTransaction carries the energy register at begin and end (a CSMS may turn it off).
        self.stop_transaction_data = True

    async def read_energy(self, connector_id: str, *, monotonic: bool = True) -> Energy | None:
        """A fresh reading, or None. ``monotonic``: within a session a register that steps back
        (a glitch) is ignored and the last value kept; a new session starts from the raw value,
        so a meter replaced or reset between sessions is taken as it is."""
        source = self._meters.get(connector_id)
        if source is None:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                reading = await _read(source)
        except (DeviceError, TimeoutError) as exc:
            log.warning("meter read failed", connector_id=connector_id, error=str(exc))
            return None
        energy_wh = round(reading.import_energy_wh)
        last_wh = self._last.get(connector_id)
        if monotonic and last_wh is not None and energy_wh < last_wh:
            log.warning("energy register stepped back; keeping the last value",
                        connector_id=connector_id, read_wh=energy_wh, kept_wh=last_wh)  # fmt: skip
            energy_wh = last_wh
        self._last[connector_id] = energy_wh
        return Energy(energy_wh, reading.total_power_w)

    def remember(self, connector_id: str, energy_wh: int) -> None:
        """The last recorded value of a session resumed after a restart."""
        self._last[connector_id] = energy_wh

    async def open(
        self, connector_id: str, auth: Authorization, now_s: float
    ) -> SessionRecord | None:
        """Record a start with a fresh (or last known) meter value; None if there is none."""
        energy = await self.read_energy(connector_id, monotonic=False)
        meter_wh = energy.energy_wh if energy else self._last.get(connector_id)
        if meter_wh is None:
            log.error("no meter value: session not started", connector_id=connector_id)
            return None
        identity = self._identity(connector_id)
        messages: tuple[MessageToQueue, ...] = ()
        if identity:
            start_msg = start_message(
                identity, connector_id, auth.id_tag, meter_wh, now_s,
                reservation_id=auth.reservation_id,
            )  # fmt: skip
            messages = (start_msg,)
        start = SessionStart(
            connector_id=connector_id,
            id_tag=auth.id_tag,
            at_s=now_s,
            meter_wh=meter_wh,
            parent_id_tag=auth.parent_id_tag,
            source=auth.source,
            authorized_offline=auth.offline,
            energy_cap_wh=auth.energy_cap_wh,
            messages=messages,
            tariff=self._tariff(connector_id),
        )
        record = await self.store.start(start)
        self._queued(messages)
        if self.pricing is not None:
            self.pricing.begin(record)
        return record

    def _tariff(self, connector_id: str) -> TariffRef | None:
        found = None if self.pricing is None else self.pricing.tariff_for(connector_id)
        return None if found is None else found[1]

    def _priced(self, record: SessionRecord, at_s: float, energy: Energy) -> None:
        if self.pricing is not None:
            reading = Reading(at_s, energy.energy_wh, energy.power_w)
            self.pricing.reading(record.local_id, record.connector_id, reading)

    async def sample(self, record: SessionRecord, now_s: float, context: str) -> Energy | None:
        energy = await self.read_energy(record.connector_id)
        if energy is None:
            return None
        identity = self._identity(record.connector_id)
        values = (energy.energy_wh, energy.power_w)
        messages = (
            (meter_values_message(identity, record.connector_id, now_s, values, context),)
            if identity
            else ()
        )
        recorded = await self.store.sample(
            record.local_id, now_s, energy.energy_wh,
            power_w=energy.power_w, context=context, messages=messages,
        )  # fmt: skip
        self._queued(messages if recorded else ())
        if recorded:
            self._priced(record, now_s, energy)
        return energy if recorded else None

    async def record_sample(
        self,
        local_id: int,
        connector_id: str,
        at_s: float,
        energy: tuple[float | None, str],
        messages: tuple[MessageToQueue, ...],
    ) -> bool:
        """A sample another part took (the uplink, with OCPP on): its register (``energy``:
        register, context) becomes the session's last known one, durable with its messages.

        The register is the session's own meter's: the uplink samples the charger's built-in
        meter, so a connector with a meter of its own is read here instead."""
        raw_wh, context = energy
        if self._dedicated(connector_id):
            fresh = await self.read_energy(connector_id)
            energy_wh = None if fresh is None else fresh.energy_wh
        else:
            energy_wh = None if raw_wh is None else self._kept(connector_id, round(raw_wh))
        recorded = await self.store.sample(
            local_id, at_s, energy_wh, context=context, messages=messages
        )
        self._queued(messages if recorded else ())
        if recorded and energy_wh is not None and self.pricing is not None:
            self.pricing.reading(local_id, connector_id, Reading(at_s, energy_wh))
        return recorded

    def _dedicated(self, connector_id: str) -> bool:
        source = self._meters.get(connector_id)
        return isinstance(source, Meter) and not isinstance(source, BuiltInMeter)

    def _kept(self, connector_id: str, energy_wh: int) -> int:
        """The register of a running session never steps back (a glitch keeps the last)."""
        last_wh = self._last.get(connector_id)
        kept_wh = energy_wh if last_wh is None else max(energy_wh, last_wh)
        self._last[connector_id] = kept_wh
        return kept_wh

    async def close(
        self,
        record: SessionRecord,
        reason: StopReason,
        now_s: float,
        *,
        id_tag: str | None = None,
        use_last_known: bool = False,
    ) -> tuple[SessionRecord, bool]:
        """Close exactly once; the stop value is never below the last recorded one.

        ``use_last_known`` (power loss): the stop is the last durable register at its time,
        not the restart's moment."""
        energy = None if use_last_known else await self.read_energy(record.connector_id)
        known_wh = max(record.last_meter_wh, self._last.get(record.connector_id, 0))
        meter_wh = max(energy.energy_wh, known_wh) if energy else known_wh
        identity = self._identity(record.connector_id)
        begin = (record.start_at_s, record.meter_start_wh) if self.stop_transaction_data else None

        def render(stop: StopFacts) -> tuple[MessageToQueue, ...]:
            if not identity:
                return ()
            return (stop_message(identity, id_tag, stop.meter_wh, stop.at_s, reason.value,
                                 begin=begin),)  # fmt: skip

        closed, changed = await self.store.stop(
            record.local_id, now_s, meter_wh, reason.value,
            stop_id_tag=id_tag, last_known=use_last_known, render=render,
            price=None if self.pricing is None else self.pricing.price,
        )  # fmt: skip
        self._queued((identity,) if changed and identity else ())
        if self.pricing is not None:
            self.pricing.end(record.connector_id)
        return closed, changed

    def _identity(self, connector_id: str) -> str | None:
        return self._route(connector_id) if self._route else None

    def _queued(self, messages: tuple[object, ...]) -> None:
        # Tell the sender only after the commit: it must never see a message before it is durable.
        if messages and self._on_queued is not None:
            self._on_queued()


async def _read(source: EnergySource) -> MeterReading:
    if isinstance(source, Meter):
        return await source.read()
    return await source.read_meter()
