"""At-least-once delivery: a CALL whose answer never came is sent again byte for byte, so the
CSMS can recognise the repeat (docs/delivery.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.sim.csms import BenchCsms, CsmsBehaviour
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.outbox_events import ended, started

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 1}


async def test_a_start_whose_answer_was_lost_is_sent_again_identical(tmp_path: Path) -> None:
    # The CSMS takes the first StartTransaction but its answer never arrives (as when the
    # process is killed with the CALL in flight); the next life sends it again.
    csms = BenchCsms(CsmsBehaviour(silent={"StartTransaction": 1}))
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(1, "c1:1"))
        await outbox.append("site1", ended(1, 1500))
        settings = settings_for(f"ws://127.0.0.1:{port}", call_timeout_s=30.0)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS):
            await wait_for(lambda: csms.actions().count("StartTransaction") == 1)
        # Ended with the CALL unanswered (the uplink's task cancelled, as by a kill).
        # The start and the stop, and the StartupOfTheDevice security event behind them.
        assert await outbox.backlog("site1") == 3
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS):
            await wait_for(lambda: csms.actions().count("StopTransaction") == 1)
    sent = zip(csms.record.calls, csms.record.unique_ids, strict=True)
    starts = [(p, u) for (_, a, p), u in sent if a == "StartTransaction"]
    assert len(starts) == 2
    (first, first_id), (again, again_id) = starts
    assert again == first and again_id == first_id, "the repeat is the same CALL"
    assert first["timestamp"] == "2026-11-27T00:00:00.000Z"
    assert first["meterStart"] == started(1).start_register_wh
    # This CSMS handled only the repeat; the stop goes to the transaction it answered.
    assert csms.record.transactions[1]["stop"] == {"meterStop": 1500, "reason": "Local"}
