"""Outbox events for tests: a session's start, samples and end with plain defaults."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions.events import (
    IdToken,
    MeterSampled,
    OutboxEvent,
    Quantity,
    Reading,
    ReadingContext,
    SessionEnded,
    SessionStarted,
    TokenType,
)
from edge_controller.storage.sessions_store import Announce, EventToQueue, Render, StopFacts

T0_S = 1_795_737_600.0  # 2026-11-27T00:00:00Z


def started(
    local_id: int, connector_id: str = "c1:1", meter_wh: int = 1000, *,
    id_tag: str = "AABBCCDD", at_s: float = T0_S, reservation_id: int | None = None,
) -> SessionStarted:  # fmt: skip
    token = IdToken(id_tag, TokenType.CARD)
    return SessionStarted(local_id, connector_id, at_s, meter_wh, token, reservation_id)


def sampled(
    local_id: int | None, energy_wh: int, connector_id: str = "c1:1", *,
    at_s: float = T0_S + 60, context: ReadingContext = ReadingContext.PERIODIC,
    power_w: int | None = None,
) -> MeterSampled:  # fmt: skip
    readings = [Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal(energy_wh))]
    if power_w is not None:
        readings.append(Reading(Quantity.POWER_IMPORT_W, Decimal(power_w)))
    return MeterSampled(local_id, connector_id, at_s, context, tuple(readings))


def ended(
    local_id: int, meter_wh: int, connector_id: str = "c1:1", *,
    reason: StopReason = StopReason.LOCAL, at_s: float = T0_S + 3600,
    meter_start_wh: int = 1000,
) -> SessionEnded:  # fmt: skip
    return SessionEnded(local_id, connector_id, at_s, meter_wh, reason, T0_S, meter_start_wh)


class _Queued(Protocol):
    @property
    def event(self) -> OutboxEvent | None: ...


def value_of(message: _Queued) -> int:
    """The first reading of a queued sample (the register), as a whole number."""
    event = message.event
    assert isinstance(event, MeterSampled), event
    return int(event.readings[0].value)


def announcing(identity: str, connector_id: str = "c1:1", meter_wh: int = 1000) -> Announce:
    """``SessionStart.announce``: the session's start for ``identity``."""
    return lambda local_id: (EventToQueue(identity, started(local_id, connector_id, meter_wh)),)


def ending(identity: str, local_id: int, connector_id: str = "c1:1") -> Render:
    """``SessionStore.stop(render=...)``: session ``local_id``'s end as recorded."""

    def render(stop: StopFacts) -> tuple[EventToQueue, ...]:
        event = ended(local_id, stop.meter_wh, connector_id, at_s=stop.at_s)
        return (EventToQueue(identity, event),)

    return render
