"""A bug in the handling of one CSMS message ends that connection, not the uplink."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from edge_controller.domain.snapshot import Availability
from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink.session import LinkSession
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 1}


async def test_a_failing_follow_up_is_logged_and_the_uplink_connects_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection on our own code: the first follow-up raises as a programming error would.
    real = LinkSession.run_followup
    calls: list[object] = []

    async def broken_once(self: LinkSession, followup: object) -> None:
        calls.append(followup)
        if len(calls) == 1:
            raise TypeError("injected handler bug")
        await real(self, followup)  # type: ignore[arg-type]

    monkeypatch.setattr(LinkSession, "run_followup", broken_once)
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        with capture_logs() as logs:
            async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
                await wait_for(lambda: uplink.online)
                heartbeat = {"requestedMessage": "Heartbeat"}
                assert await csms.send("site1", "TriggerMessage", heartbeat) == {
                    "status": "Accepted"
                }
                await wait_for(lambda: csms.actions().count("BootNotification") == 2)
                await wait_for(lambda: uplink.online)
                before = csms.actions().count("Heartbeat")
                assert await csms.send("site1", "TriggerMessage", heartbeat) == {
                    "status": "Accepted"
                }
                await wait_for(lambda: csms.actions().count("Heartbeat") == before + 1)
    failed = [e for e in logs if e["event"] == "uplink session failed, connecting again"]
    assert len(failed) == 1
    assert "injected handler bug" in failed[0]["error"]
    assert failed[0]["log_level"] == "error"
