"""Reads the connector's meter and records session changes with the events the uplink
reports (``domain.sessions.events``), in the same commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from edge_controller.domain.commands import StopReason
from edge_controller.domain.model import MeterReading
from edge_controller.domain.pricing.recorded import Reading as PricedReading
from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    EvConnected,
    EvWaitEnded,
    IdToken,
    MeterSampled,
    Quantity,
    Reading,
    ReadingContext,
    SessionEnded,
    SessionStarted,
    TokenType,
    token_type_for,
)
from edge_controller.domain.sessions.state import Authorization
from edge_controller.log import get_logger
from edge_controller.ports import BuiltInMeter, DeviceError, Meter
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.sessions_store import (
    EventToQueue,
    SessionRecord,
    SessionStart,
    SessionStore,
    StopFacts,
    TariffRef,
)

log = get_logger("sessions")
EnergySource = Meter | BuiltInMeter
Joins = tuple[int, bool] | None
"""A transaction begun before the session: its local id, whether begun at the authorisation."""
OutboxRoute = Callable[[str], str | None]
"""connector id -> the uplink identity its events go to; None when nothing goes uplink."""


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
        *,
        on_queued: Callable[[str], None] | None = None,
        pricing: SessionPricing | None = None,
    ) -> None:
        self.store = store
        self._meters = meters
        self._route = route
        self._on_queued = on_queued
        self._timeout_s = meter_timeout_s
        self._last: dict[str, int] = {}  # last good energy reading per connector
        self.pricing = pricing  # tariffs, running and final cost
        # The end of a session carries its registers at start and end (a CSMS may turn it off).
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
        self, connector_id: str, auth: Authorization, now_s: float, joins: Joins = None
    ) -> SessionRecord | None:
        """Record a start with a fresh (or last known) meter value; None if there is none.
        ``joins``: the transaction begun before it that it joins (it takes its local id), and
        whether that began at the authorisation."""
        after_authorization = joins is not None and joins[1]
        energy = await self.read_energy(connector_id, monotonic=False)
        meter_wh = energy.energy_wh if energy else self._last.get(connector_id)
        if meter_wh is None:
            log.error("no meter value: session not started", connector_id=connector_id)
            return None
        identity = self._identity(connector_id)

        def announce(local_id: int) -> tuple[EventToQueue, ...]:
            if not identity:
                return ()
            started = SessionStarted(
                local_id, connector_id, now_s, meter_wh, _token(auth),
                reservation_id=auth.reservation_id, authorized_offline=auth.offline,
                remote_start_id=auth.remote_start_id, plugged_in_last=after_authorization,
            )  # fmt: skip
            return (EventToQueue(identity, started),)

        start = SessionStart(
            connector_id=connector_id,
            id_tag=auth.id_tag,
            at_s=now_s,
            meter_wh=meter_wh,
            parent_id_tag=auth.parent_id_tag,
            source=auth.source,
            authorized_offline=auth.offline,
            energy_cap_wh=auth.energy_cap_wh,
            announce=announce,
            tariff=self._tariff(connector_id, auth.id_tag),
            joins=None if joins is None else joins[0],
        )
        record = await self.store.start(start)
        self._queued(identity)
        if self.pricing is not None:
            self.pricing.begin(record)
        return record

    async def open_plug(
        self, connector_id: str, now_s: float, auth: Authorization | None = None
    ) -> int | None:
        """Start a transaction before its session: at a plug-in (its ``EvConnected``), or at
        ``auth`` before the plug-in (``AuthorizedFirst``); its local id, None where no uplink
        takes the connector's events."""
        identity = self._identity(connector_id)
        if not identity:
            return None

        def first(local_id: int) -> EvConnected | AuthorizedFirst:
            if auth is None:
                return EvConnected(local_id, connector_id, now_s)
            remote = auth.remote_start_id
            return AuthorizedFirst(local_id, connector_id, now_s, _token(auth), remote)

        local_id = await self.store.plugs.open(identity, first)
        self._queued(identity)
        return local_id

    async def end_plug(self, ended: EvWaitEnded, identity: str | None = None) -> None:
        """End a transaction no session runs in (begun before its session, or going on after
        it) with ``ended``, queued for ``identity`` (None: the connector's own)."""
        identity = identity or self._identity(ended.connector_id)
        if await self.store.plugs.end(identity, ended) and identity:
            self._queued(identity)

    def routed(self, connector_id: str) -> bool:
        """Whether an uplink takes the connector's events."""
        return bool(self._identity(connector_id))

    def _tariff(self, connector_id: str, id_tag: str) -> TariffRef | None:
        found = None if self.pricing is None else self.pricing.tariff_for(connector_id, id_tag)
        return None if found is None else found[1]

    def _priced(self, record: SessionRecord, at_s: float, energy: Energy) -> None:
        if self.pricing is not None:
            reading = PricedReading(at_s, energy.energy_wh, energy.power_w)
            self.pricing.reading(record.local_id, record.connector_id, reading)

    async def sample(
        self, record: SessionRecord, now_s: float, context: ReadingContext
    ) -> Energy | None:
        energy = await self.read_energy(record.connector_id)
        if energy is None:
            return None
        identity = self._identity(record.connector_id)
        sampled = _sampled(record, now_s, energy, context)
        cost = await self._cost(record.local_id, record.connector_id, now_s, energy, context)
        sampled = sampled if cost is None else replace(sampled, cost=cost)
        events = (EventToQueue(identity, sampled),) if identity else ()
        recorded = await self.store.sample(
            record.local_id, now_s, energy.energy_wh,
            power_w=energy.power_w, context=context, events=events,
        )  # fmt: skip
        self._queued(*(e.identity for e in events if recorded))
        if recorded:
            self._priced(record, now_s, energy)
        return energy if recorded else None

    async def record_sample(
        self,
        local_id: int,
        connector_id: str,
        at_s: float,
        energy: tuple[float | None, ReadingContext],
        events: tuple[EventToQueue, ...],
    ) -> bool:
        """A sample another part took (the uplink, with OCPP on): its register (``energy``:
        register, context) becomes the session's last known one, durable with its events.

        The register is the session's own meter's: the uplink samples the charger's built-in
        meter, so a connector with a meter of its own is read here instead."""
        raw_wh, context = energy
        if self._dedicated(connector_id):
            fresh = await self.read_energy(connector_id)
            energy_wh = None if fresh is None else fresh.energy_wh
        else:
            energy_wh = None if raw_wh is None else self._kept(connector_id, round(raw_wh))
        if energy_wh is not None:
            measured = Energy(energy_wh, None)
            cost = await self._cost(local_id, connector_id, at_s, measured, context)
            events = tuple(_with_cost(e, cost) for e in events)
        recorded = await self.store.sample(
            local_id, at_s, energy_wh, context=context, events=events
        )
        self._queued(*(e.identity for e in events if recorded))
        if recorded and energy_wh is not None and self.pricing is not None:
            self.pricing.reading(local_id, connector_id, PricedReading(at_s, energy_wh))
        return recorded

    async def _cost(
        self, local_id: int, connector_id: str, at_s: float, energy: Energy,
        context: ReadingContext,
    ) -> dict[str, Any] | None:  # fmt: skip
        """The running cost up to a periodic sample, to go with it (OCPP 2.1 costDetails of
        an Updated event; the other samples go without, to keep them small)."""
        if self.pricing is None or context is not ReadingContext.PERIODIC:
            return None
        reading = PricedReading(at_s, energy.energy_wh, energy.power_w)
        found: dict[str, Any] | None = await self.pricing.cost_with(local_id, connector_id, reading)
        return found

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
        goes_on: bool = False,
    ) -> tuple[SessionRecord, bool]:
        """Close exactly once; the stop value is never below the last recorded one.

        ``use_last_known`` (power loss): the stop is the last durable register at its time,
        not the restart's moment. ``goes_on``: its transaction goes on after it (where an
        uplink takes its events), until ``end_plug``."""
        energy = None if use_last_known else await self.read_energy(record.connector_id)
        known_wh = max(record.last_meter_wh, self._last.get(record.connector_id, 0))
        meter_wh = max(energy.energy_wh, known_wh) if energy else known_wh
        identity = self._identity(record.connector_id)
        goes_on = goes_on and bool(identity)
        with_registers = self.stop_transaction_data
        # Only a card tapped to stop names its token.
        token = None if id_tag is None else IdToken(id_tag, TokenType.CARD)

        def render(stop: StopFacts) -> tuple[EventToQueue, ...]:
            if not identity:
                return ()
            ended = SessionEnded(
                record.local_id, record.connector_id, stop.at_s, stop.meter_wh, reason,
                record.start_at_s, record.meter_start_wh, with_registers=with_registers,
                id_token=token, transaction_goes_on=goes_on,
            )  # fmt: skip
            return (EventToQueue(identity, ended),)

        closed, changed = await self.store.stop(
            record.local_id, now_s, meter_wh, reason.value,
            stop_id_tag=id_tag, last_known=use_last_known, render=render,
            price=None if self.pricing is None else self.pricing.price, goes_on=goes_on,
        )  # fmt: skip
        self._queued(identity if changed else None)
        if self.pricing is not None:
            self.pricing.end(record.connector_id)
        return closed, changed

    def _identity(self, connector_id: str) -> str | None:
        return self._route(connector_id) if self._route else None

    def _queued(self, *identities: str | None) -> None:
        """Wake the senders of these identities (None and repeats are skipped). Only after the
        commit: a sender must never see an event before it is durable."""
        if self._on_queued is None:
            return
        for identity in dict.fromkeys(identities):
            if identity:
                self._on_queued(identity)


def _with_cost(queued: EventToQueue, cost: dict[str, Any] | None) -> EventToQueue:
    if cost is None or not isinstance(queued.event, MeterSampled):
        return queued
    return replace(queued, event=replace(queued.event, cost=cost))


def _sampled(
    record: SessionRecord, at_s: float, energy: Energy, context: ReadingContext
) -> MeterSampled:
    """The session side's own sample: the register in whole Wh, the power in whole W."""
    readings = [Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal(energy.energy_wh))]
    if energy.power_w is not None:
        readings.append(Reading(Quantity.POWER_IMPORT_W, Decimal(f"{energy.power_w:.0f}")))
    return MeterSampled(record.local_id, record.connector_id, at_s, context, tuple(readings))


async def _read(source: EnergySource) -> MeterReading:
    if isinstance(source, Meter):
        return await source.read()
    return await source.read_meter()


def _token(auth: Authorization) -> IdToken:
    kind = TokenType.KEY_CODE if auth.key_code else token_type_for(auth.source)
    return IdToken(auth.id_tag, kind)
