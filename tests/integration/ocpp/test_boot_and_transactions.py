"""OCTT-style scenarios against the bench CSMS (ocpp central-system side) over loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge_controller.domain.sessions.events import MeterSampled
from edge_controller.domain.snapshot import Availability
from edge_controller.sim.csms import BenchCsms, CsmsBehaviour
from edge_controller.uplink.clock import from_iso
from tests.integration.ocpp.harness import (
    FakeSite,
    all_answered,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.outbox_events import T0_S, ended, sampled, started

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 2}


async def test_cold_boot_sends_boot_then_fresh_status(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c1:2", Availability.FAULTED, fault_text="RCD tripped")
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: csms.actions().count("StatusNotification") >= 3)
            assert uplink.online
    assert csms.actions()[0] == "BootNotification"
    statuses = {
        c[2]["connectorId"]: c[2] for c in csms.record.calls if c[1] == "StatusNotification"
    }
    assert statuses[0]["status"] == "Available"
    assert statuses[1]["status"] == "Available"
    assert statuses[2]["status"] == "Faulted"
    assert statuses[2]["errorCode"] == "GroundFailure"
    assert statuses[2]["info"] == "RCD tripped"


async def test_pending_boot_sends_nothing_else_until_accepted(tmp_path: Path) -> None:
    behaviour = CsmsBehaviour(boot_status="Pending", boot_interval_s=1)
    csms = BenchCsms(behaviour)
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(1, "c1:1"))
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS):
            await wait_for(lambda: csms.actions().count("BootNotification") >= 2)
            assert set(csms.actions()) == {"BootNotification"}
            behaviour.boot_status = "Accepted"
            await wait_for(lambda: "StartTransaction" in csms.actions())
            answer = await csms.send("site1", "RemoteStopTransaction", {"transactionId": 99})
            assert answer == {"status": "Rejected"}


async def test_offline_session_replayed_in_order_with_real_transaction_id(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING)
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        # Recorded while the CSMS is unreachable, with an early (unsynchronised) clock.
        await outbox.append("site1", started(7, "c1:2"))
        for i in range(5):
            at = f"1970-01-01T00:0{i}:00.000Z"
            await outbox.append("site1", sampled(7, 1000 + i, "c1:2", at_s=from_iso(at)))
        await outbox.append("site1", ended(7, 1010))
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            # A controller without RTC: its clock has run only minutes since 1970.
            async with running_uplink(
                settings, site, outbox, tmp_path, CHARGERS, now_s=lambda: time.monotonic() % 3600
            ) as up:
                await wait_for(lambda: "StopTransaction" in csms.actions())
                # Behind the session: StartupOfTheDevice, and SettingSystemTime (clock set).
                security = "SecurityEventNotification"
                await wait_for(lambda: csms.actions().count(security) == 2)
                await wait_for(lambda: all_answered(up, csms))
        assert await outbox.backlog("site1") == 0
        assert await outbox.remote_transaction_id(7) == 1
    assert site.confirmed == [(7, 1, "Accepted")]
    tx = csms.record.transactions[1]
    assert tx["connectorId"] == 2
    assert [int(v["sampledValue"][0]["value"]) for v in tx["meterValues"]] == list(
        range(1000, 1005)
    )
    assert all(v["timestamp"].startswith("20") for v in tx["meterValues"])
    assert tx["stop"] == {"meterStop": 1010, "reason": "Local"}
    assert csms.record.unknown_transaction_ids == []


async def test_connection_loss_mid_transaction_delivers_every_value_once(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(1, "c1:1"))
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
                await wait_for(lambda: "StartTransaction" in csms.actions())
                await wait_for(lambda: len(csms.connected) == 1)
                await csms.connected["site1"].connection.close()
                for i in range(20):
                    await outbox.append("site1", sampled(1, 2000 + i, "c1:1", at_s=T0_S + 600))
                uplink.notify_outbox()
                await outbox.append("site1", ended(1, 2020))
                await wait_for(lambda: "StopTransaction" in csms.actions())
    values = [
        int(v["sampledValue"][0]["value"]) for v in csms.record.transactions[1]["meterValues"]
    ]
    assert values == list(range(2000, 2020))
    assert csms.actions().count("StartTransaction") == 1
    actions = csms.actions()
    assert actions.count("BootNotification") == 2
    # Status is not replayed from the past: it is sent fresh after the new boot.
    second_boot = len(actions) - 1 - actions[::-1].index("BootNotification")
    assert "StatusNotification" in actions[second_boot:]


async def test_callerror_retried_then_parked_and_queue_moves_on(tmp_path: Path) -> None:
    behaviour = CsmsBehaviour(call_errors={"MeterValues": 10}, silent={"StartTransaction": 1})
    csms = BenchCsms(behaviour)
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(3, "c1:1"))
        await outbox.append("site1", sampled(3, 5, "c1:1", at_s=from_iso("2026-11-27T00:00:00Z")))
        await outbox.append("site1", ended(3, 9))
        async with running_csms(csms) as port:
            settings = settings_for(
                f"ws://127.0.0.1:{port}", transaction_message_attempts=2, call_timeout_s=1.0
            )
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS):
                await wait_for(lambda: "StopTransaction" in csms.actions(), timeout_s=30)
        parked = await outbox.parked("site1")
    # The unanswered StartTransaction was sent again (a timeout is an attempt), then confirmed.
    assert csms.actions().count("StartTransaction") == 2
    assert csms.actions().count("MeterValues") == 2
    assert [type(p.event) for p in parked] == [MeterSampled]
    assert "CALLERROR" in (parked[0].last_error or "")
    assert csms.record.transactions[1]["stop"]["meterStop"] == 9


async def test_fifty_sessions_queued_during_outage_delivered_exactly_once(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        for local_id in range(1, 51):
            connector = f"c1:{local_id % 2 + 1}"
            await outbox.append("site1", started(local_id, connector, meter_wh=local_id))
            await outbox.append("site1", sampled(local_id, local_id * 10, connector, at_s=T0_S))
            await outbox.append("site1", ended(local_id, local_id * 100))
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS) as up:
                await wait_for(lambda: csms.actions().count("StopTransaction") == 50, timeout_s=60)
                await wait_for(lambda: all_answered(up, csms))
        assert await outbox.backlog() == 0
    assert len(csms.record.transactions) == 50
    for tx in csms.record.transactions.values():
        local_id = tx["meterStart"]
        assert tx["stop"]["meterStop"] == local_id * 100
        assert [v["sampledValue"][0]["value"] for v in tx["meterValues"]] == [str(local_id * 10)]
    assert csms.record.unknown_transaction_ids == []


async def test_restart_between_confirmation_and_ack_does_not_resend_start(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        seq = await outbox.append("site1", started(4, "c1:1"))
        await outbox.append("site1", ended(4, 5))
        # As if the process died after recording the CSMS answer but before the ack.
        await outbox.set_remote_transaction_id(4, 41)
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS) as up:
                await wait_for(lambda: "StopTransaction" in csms.actions())
                await wait_for(lambda: all_answered(up, csms))
        assert (await outbox.peek("site1")) is None
    assert "StartTransaction" not in csms.actions()
    stop = next(c[2] for c in csms.record.calls if c[1] == "StopTransaction")
    assert stop["transactionId"] == 41
    assert seq > 0
