"""The stored form of outbox events: every event reads back as written, digits included, and a
body of another format or type is refused with its reason (the sender parks it)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from edge_controller.domain.commands import StopReason
from edge_controller.domain.payments import PaymentTokenIssued
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.sessions.events import (
    AuthorizedFirst,
    Conductor,
    EvConnected,
    EvWaitEnded,
    IdToken,
    Location,
    MeterSampled,
    OutboxEvent,
    Quantity,
    Reading,
    ReadingContext,
    TokenType,
)
from edge_controller.storage.outbox.codec import FORMAT, UnreadableEvent, decode, encode
from tests.outbox_events import ended, started

EUR_TEST = Currency.of("EUR")
SAMPLE = MeterSampled(
    7, "cp:2", 1_795_737_600.123, ReadingContext.CLOCK_ALIGNED,
    (Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal("12345"), location=Location.OUTLET),
     Reading(Quantity.VOLTAGE_V, Decimal("230.0"), Conductor.L2_N),
     Reading(Quantity.STATE_OF_CHARGE_PCT, Decimal("7.50"), location=Location.EV)),
)  # fmt: skip
EVENTS: list[OutboxEvent] = [
    started(1),
    replace(started(2, "cp:1", 0), reservation_id=17, authorized_offline=True),
    replace(started(3), id_token=IdToken("ANY", TokenType.FREE_VEND)),
    replace(started(5), id_token=IdToken("CAFE01", TokenType.CENTRAL), remote_start_id=4711),
    SAMPLE,
    replace(SAMPLE, phases_used=2),
    replace(SAMPLE, cost={"currency": "EUR", "total_incl_tax": "1.19", "periods": []}),
    replace(SAMPLE, session_local_id=None, readings=()),
    ended(1, 2500),
    PaymentTokenIssued("cp:1", "PAY0123456789ABCDEF0", Money.of_minor(2500, EUR_TEST), 1.5),
    EvConnected(8, "cp:2", 1_795_737_600.123),
    AuthorizedFirst(10, "cp:1", 1_795_737_600.5, IdToken("AABB", TokenType.CARD)),
    AuthorizedFirst(11, "cp:1", 1.5, IdToken("CAFE01", TokenType.CENTRAL), remote_start_id=7),
    replace(started(10), plugged_in_last=True),
    EvWaitEnded(10, "cp:1", 1_795_737_660.5, StopReason.TIMEOUT),
    EvWaitEnded(8, "cp:2", 1_795_737_660.5, StopReason.EV_DISCONNECTED),
    EvWaitEnded(9, "cp:1", 1_795_737_661.0, StopReason.REBOOT),
    replace(
        ended(4, 9, reason=StopReason.POWER_LOSS),
        with_registers=True,
        id_token=IdToken("AABB", TokenType.CARD),
    ),
]


@pytest.mark.parametrize(
    "event", EVENTS, ids=[f"{type(e).__name__}-{i}" for i, e in enumerate(EVENTS)]
)
def test_every_event_reads_back_as_written(event: OutboxEvent) -> None:
    event_type, body = encode(event)
    assert decode(event_type, body) == event
    assert json.loads(body)["v"] == FORMAT


def test_values_keep_their_digits_and_times_their_milliseconds() -> None:
    _, body = encode(SAMPLE)
    stored = json.loads(body)
    assert [r["value"] for r in stored["readings"]] == ["12345", "230.0", "7.50"]
    assert stored["at_s"] == 1_795_737_600.123
    assert stored["context"] == "clock_aligned" and stored["readings"][1]["conductor"] == "L2-N"


def test_the_reason_is_stored_by_name_not_as_a_protocol_word() -> None:
    _, body = encode(ended(1, 2500, reason=StopReason.EV_DISCONNECTED))
    assert json.loads(body)["reason"] == "ev_disconnected"


@pytest.mark.parametrize(
    ("event_type", "body", "why"),
    [
        ("session_started", '{"v": 2}', "unknown format"),
        ("session_started", "[1, 2]", "unknown format"),
        ("session_started", "not json", "not readable"),
        ("meter_sampled", '{"v": 1, "session_local_id": 1}', "not readable"),
        ("session_ended", json.dumps({**json.loads(encode(ended(1, 5))[1]), "reason": "x"}),
         "not readable"),
        ("status_changed", '{"v": 1}', "unknown event type"),
    ],
)  # fmt: skip
def test_a_body_that_is_not_an_event_is_refused_with_its_reason(
    event_type: str, body: str, why: str
) -> None:
    with pytest.raises(UnreadableEvent, match=why):
        decode(event_type, body)


def test_bodies_written_before_the_later_fields_read_them_as_unknown() -> None:
    """A body queued by an earlier release (no ``remote_start_id``, no ``phases_used``) is the
    same format: it reads back, the missing fields None."""
    for event, key in ((started(1), "remote_start_id"), (SAMPLE, "phases_used")):
        event_type, body = encode(event)
        older = json.loads(body)
        del older[key]
        assert decode(event_type, json.dumps(older)) == event
