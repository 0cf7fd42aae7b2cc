"""The sender frames and checks each CALL before its turn: what the schema refuses is parked
unsent, nulls are left out, and the line moves on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.rows import OutboxMessage
from tests.integration.ocpp.harness import (
    FakeSite,
    meter_payload,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    start_payload,
    wait_for,
)
from tests.integration.ocpp.raw_csms import raw_csms

pytestmark = pytest.mark.integration
AT = "2026-11-27T00:10:00.000Z"


def _values(csms: BenchCsms) -> list[dict[str, object]]:
    return [p for _, a, p in csms.record.calls if a == "MeterValues"]


async def test_a_payload_the_schema_refuses_is_parked_unsent_and_the_line_moves_on(
    tmp_path: Path,
) -> None:
    bad = meter_payload("c1:1", 5, AT)
    bad["meterValue"][0]["sampledValue"][0]["value"] = 5  # the schema wants a string
    with_null = meter_payload("c1:1", 6, AT)
    with_null["meterValue"][0]["sampledValue"][0]["phase"] = None
    csms = BenchCsms()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", "MeterValues", bad)
        await outbox.append("site1", "MeterValues", with_null)
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 2}):
                await wait_for(lambda: len(_values(csms)) == 1)
                # The CSMS records the CALL before its answer reaches us: wait for the ack.
                await _drained(outbox)
            parked = await outbox.parked("site1")
            assert await outbox.backlog("site1") == 0
    assert [p.payload for p in parked] == [bad]
    assert "not sendable" in (parked[0].last_error or "")
    assert parked[0].attempts == 0  # never sent: retrying it could not help
    expected = meter_payload("c1:1", 6, AT)["meterValue"]  # the null member left out
    assert _values(csms)[0]["meterValue"] == expected


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
        await outbox.append("site1", "StartTransaction", start_payload("c1:1"), session_local_id=4)
        settings = settings_for(f"ws://127.0.0.1:{port}", transaction_message_attempts=2)
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 2}):
            parked = await _parked(outbox)
        assert await outbox.remote_transaction_id(4) is None
    assert [(p.action, p.attempts) for p in parked] == [("StartTransaction", 2)]
    assert "answer refused, OccurenceConstraintViolation" in (parked[0].last_error or "")
    assert "idTagInfo" in (parked[0].last_error or "")
    assert site.confirmed == [] and csms.connections == 1
