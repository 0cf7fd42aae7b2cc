"""CSMS-initiated operations, sent by the bench CSMS over a real websocket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge_controller.domain.commands import (
    Origin,
    SetConnectorEnabled,
    StartReason,
    StartSession,
    StopReason,
    StopSession,
)
from edge_controller.domain.snapshot import Availability
from edge_controller.sim.csms import BenchCsms, CsmsBehaviour
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.outbox_events import started as start_event

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 1, "c2": 1}


async def test_remote_start_and_stop_become_domain_commands(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.PREPARING)
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", start_event(12, "c2:1"))
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online and "StartTransaction" in csms.actions())
            started = await csms.send("site1", "RemoteStartTransaction", {"idTag": "TAG1"})
            assert started == {"status": "Accepted"}
            # Without a connector the session side chooses among all of this identity's.
            assert site.commands[-1] == StartSession(
                "site1:0",
                "TAG1",
                Origin.CSMS,
                any_of=("c1:1", "c2:1"),
                reason=StartReason.REMOTE_START,
            )
            refused = await csms.send(
                "site1", "RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 7}
            )
            assert refused == {"status": "Rejected"}
            site.set("c2:1", Availability.CHARGING, session_id="12")
            for _ in range(200):
                if await outbox.remote_transaction_id(12) == 1:
                    break
                await asyncio.sleep(0.02)
            stopped = await csms.send("site1", "RemoteStopTransaction", {"transactionId": 1})
            assert stopped == {"status": "Accepted"}
            assert StopSession("c2:1", Origin.CSMS, StopReason.REMOTE) in site.commands
            unknown = await csms.send("site1", "RemoteStopTransaction", {"transactionId": 5})
            assert unknown == {"status": "Rejected"}
            # With AuthorizeRemoteTxRequests the session side authorises the id first.
            key = {"key": "AuthorizeRemoteTxRequests", "value": "true"}
            assert await csms.send("site1", "ChangeConfiguration", key) == {"status": "Accepted"}
            site.set("c2:1", Availability.FAULTED, session_id=None)
            started = await csms.send("site1", "RemoteStartTransaction", {"idTag": "tag2"})
            assert started == {"status": "Accepted"}
            assert site.commands[-1] == StartSession(
                "site1:0",
                "TAG2",
                Origin.CSMS,
                authorize_first=True,
                any_of=("c1:1",),
                reason=StartReason.REMOTE_START,
            )


async def test_availability_is_persisted_and_reapplied_after_restart(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.AVAILABLE)
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online)
            answer = await csms.send(
                "site1", "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}
            )
            assert answer == {"status": "Accepted"}
            await wait_for(lambda: SetConnectorEnabled("c2:1", False, Origin.CSMS) in site.commands)
            await wait_for(lambda: _last_status(csms, 2) == "Unavailable")
        restarted = FakeSite(views=dict(site.views))
        async with running_uplink(settings, restarted, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(
                lambda: SetConnectorEnabled("c2:1", False, Origin.CSMS) in restarted.commands
            )
            assert SetConnectorEnabled("c1:1", True, Origin.CSMS) in restarted.commands


def _last_status(csms: BenchCsms, connector: int) -> str | None:
    found = [
        c[2]["status"]
        for c in csms.record.calls
        if c[1] == "StatusNotification" and c[2]["connectorId"] == connector
    ]
    return found[-1] if found else None


async def test_configuration_get_change_with_real_effect_and_persistence(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online)
            send = csms.send
            ok = await send(
                "site1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1"}
            )
            assert ok == {"status": "Accepted"}
            await wait_for(lambda: csms.actions().count("Heartbeat") >= 2)
            sample = await send(
                "site1", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "15"}
            )
            assert sample == {"status": "Accepted"}
            readonly = await send(
                "site1", "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}
            )
            assert readonly == {"status": "Rejected"}
            unknown = await send("site1", "ChangeConfiguration", {"key": "Nope", "value": "1"})
            assert unknown == {"status": "NotSupported"}
            bad = await send(
                "site1",
                "ChangeConfiguration",
                {"key": "MeterValuesSampledData", "value": "Foo.Bar"},
            )
            assert bad == {"status": "Rejected"}
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online and "site1" in csms.connected)
            got = await csms.send(
                "site1",
                "GetConfiguration",
                {"key": ["MeterValueSampleInterval", "NumberOfConnectors", "Nope"]},
            )
    values = {k["key"]: (k["value"], k["readonly"]) for k in got["configurationKey"]}
    assert values == {"MeterValueSampleInterval": ("15", False), "NumberOfConnectors": ("2", True)}
    assert got["unknownKey"] == ["Nope"]


async def test_trigger_reset_unlock_and_clear_cache(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING, session_id="3")
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online)
            before = csms.actions().count("Heartbeat")
            trig = await csms.send("site1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
            assert trig == {"status": "Accepted"}
            await wait_for(lambda: csms.actions().count("Heartbeat") == before + 1)
            diag = await csms.send("site1", "TriggerMessage", {"requestedMessage": "MeterValues"})
            assert diag == {"status": "NotImplemented"}
            unlock = await csms.send("site1", "UnlockConnector", {"connectorId": 1})
            assert unlock == {"status": "NotSupported"}
            cache = await csms.send("site1", "ClearCache", {})
            assert cache == {"status": "Rejected"}  # no cache store wired in this test
            boots = csms.actions().count("BootNotification")
            reset = await csms.send("site1", "Reset", {"type": "Soft"})
            assert reset == {"status": "Accepted"}
            await wait_for(lambda: csms.actions().count("BootNotification") == boots + 1)
            assert StopSession("c1:1", Origin.CSMS, StopReason.SOFT_RESET) in site.commands


async def test_refused_status_and_heartbeat_do_not_drop_the_connection(tmp_path: Path) -> None:
    csms = BenchCsms(CsmsBehaviour(call_errors={"StatusNotification": 2, "Heartbeat": 1}))
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online)
            key = {"key": "HeartbeatInterval", "value": "1"}
            assert await csms.send("site1", "ChangeConfiguration", key) == {"status": "Accepted"}
            await wait_for(lambda: csms.actions().count("Heartbeat") >= 3)
            site.set("c1:1", Availability.PREPARING)
            await wait_for(lambda: _last_status(csms, 1) == "Preparing")
    assert csms.actions().count("BootNotification") == 1
