"""The OCPP scale bench counts a reaction as one during a replay when its overloading reading
came before the replay's last message was sent, though its line is logged after."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.bench_scale_ocpp import read_by

SENT_AT = datetime(2026, 12, 5, 17, 0, 0, tzinfo=UTC)


def _reaction(logged_at: str, reaction_ms: float) -> dict[str, object]:
    return {"at": logged_at, "reaction_ms": reaction_ms}


def test_a_reading_before_the_last_message_counts_though_logged_after() -> None:
    assert read_by(_reaction("2026-12-05T17:00:00.150000Z", 200.0), SENT_AT)
    assert read_by(_reaction("2026-12-05T16:59:59.900000Z", 5.0), SENT_AT)


def test_a_reading_after_the_last_message_does_not_count() -> None:
    assert not read_by(_reaction("2026-12-05T17:00:00.250000Z", 200.0), SENT_AT)
