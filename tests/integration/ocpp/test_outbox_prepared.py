"""The sender renders, frames and checks each CALL before its turn: what the schema refuses and
what cannot be read is parked unsent, and the line moves on."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from edge_controller.domain.sessions.events import SessionStarted
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.rows import OutboxMessage
from edge_controller.uplink.clock import from_iso
from tests.integration.ocpp.harness import (
    FakeSite,
    database_of,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.raw_csms import raw_csms
from tests.outbox_events import sampled, started

pytestmark = pytest.mark.integration
AT = "2026-11-27T00:10:00.000Z"


def _values(csms: BenchCsms) -> list[dict[str, object]]:
    return [p for _, a, p in csms.record.calls if a == "MeterValues"]


async def test_a_payload_the_schema_refuses_is_parked_unsent_and_the_line_moves_on(
    tmp_path: Path,
) -> None:
    bad = started(5, "c1:1", id_tag="X" * 21)  # the schema allows 20 characters
    good = sampled(None, 6, "c1:1", at_s=from_iso(AT))
    csms = BenchCsms()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", bad)
        await outbox.append("site1", good)
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 2}):
                await wait_for(lambda: len(_values(csms)) == 1)
                # The CSMS records the CALL before its answer reaches us: wait for the ack.
                await _drained(outbox)
            parked = await outbox.parked("site1")
            assert await outbox.backlog("site1") == 0
    assert [p.event for p in parked] == [bad]
    assert "not sendable" in (parked[0].last_error or "")
    assert parked[0].attempts == 0  # never sent: retrying it could not help
    assert [c for _, c, _ in csms.record.calls if c == "StartTransaction"] == []
    expected = [{"timestamp": AT, "sampledValue": [
        {"value": "6", "context": "Sample.Periodic",
         "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]  # fmt: skip
    assert _values(csms)[0]["meterValue"] == expected


async def test_an_event_that_cannot_be_read_is_parked_and_the_line_moves_on(
    tmp_path: Path,
) -> None:
    # A body of a format this release does not know (a database written by a newer one).
    newer = '{"v": 99, "session_local_id": null, "connector_id": "c1:1"}'
    csms = BenchCsms()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", sampled(None, 5, "c1:1", at_s=from_iso(AT)))
        await _rewrite_first_body(outbox, newer)
        await outbox.append("site1", sampled(None, 6, "c1:1", at_s=from_iso(AT)))
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 2}):
                await wait_for(lambda: len(_values(csms)) == 1)
                await _drained(outbox)
            (parked,) = await outbox.parked("site1")
    assert parked.event is None and "unknown format" in (parked.unreadable or "")
    assert "not sendable" in (parked.last_error or "") and parked.attempts == 0
    sent = _values(csms)[0]["meterValue"][0]["sampledValue"][0]["value"]  # type: ignore[index]
    assert sent == "6"


async def _rewrite_first_body(outbox: Outbox, body: str) -> None:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE outbox SET body = ? WHERE seq = (SELECT min(seq) FROM outbox)", (body,)
        )

    await database_of(outbox).write(job)


async def _drained(outbox: Outbox, timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await outbox.backlog("site1") == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the line was not drained in time")


async def _parked(outbox: Outbox, timeout_s: float = 30.0) -> list[OutboxMessage]:
    for _ in range(int(timeout_s / 0.05)):
        found = await outbox.parked("site1")
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("nothing parked in time")


async def test_an_answer_the_schema_refuses_is_a_failed_attempt_not_an_ack(tmp_path: Path) -> None:
    # The raw CSMS answers every StartTransaction with {}: no transactionId, no idTagInfo.
    site = FakeSite()
    async with raw_csms() as (csms, port), open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(4, "c1:1"))
        settings = settings_for(f"ws://127.0.0.1:{port}", transaction_message_attempts=2)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}):
            parked = await _parked(outbox)
        assert await outbox.remote_transaction_id(4) is None
    assert [(type(p.event), p.attempts) for p in parked] == [(SessionStarted, 2)]
    assert "answer refused, OccurenceConstraintViolation" in (parked[0].last_error or "")
    assert "idTagInfo" in (parked[0].last_error or "")
    assert site.confirmed == [] and csms.connections == 1
