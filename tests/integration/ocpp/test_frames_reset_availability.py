"""Frame size limits, the close code of a Reset, and ChangeAvailability answers, at the wire."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.frames import CloseCode

from edge_controller.domain.snapshot import Availability
from edge_controller.uplink import frames
from tests.integration.ocpp.harness import (
    FakeSite,
    auth_store,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.raw_csms import RawCsms, raw_csms

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 2}


def _entry(n: int) -> dict[str, Any]:
    """A local list entry at its largest: 20-character tags, an expiry, the longest status."""
    info = {
        "expiryDate": "2036-11-27T00:00:00.000000+00:00",
        "parentIdTag": f"P{n:019d}",
        "status": "Accepted" if n % 2 else "ConcurrentTx",
    }
    return {"idTag": f"T{n:019d}", "idTagInfo": info}


def _send_local_list(unique_id: str, entries: int, version: int) -> str:
    payload = {
        "listVersion": version,
        "updateType": "Full",
        "localAuthorizationList": [_entry(n) for n in range(entries)],
    }
    return json.dumps([2, unique_id, "SendLocalList", payload])


async def _reply(csms: RawCsms, frame: str, unique_id: str) -> list[Any]:
    reply = await csms.exchange(frame, timeout_s=30)
    while reply[1] != unique_id:  # answers to earlier frames come first
        reply = await asyncio.wait_for(csms.replies.get(), 30)
    return reply


async def test_a_full_local_list_fits_and_larger_frames_get_the_documented_treatment(
    tmp_path: Path,
) -> None:
    full = _send_local_list("full", 500, version=7)  # SendLocalListMaxLength entries
    whole = _send_local_list("whole", frames.LOCAL_LIST_MAX_ENTRIES, version=8)
    assert len(whole) <= frames.full_local_list_bytes()  # the computation covers a real one
    async with raw_csms() as (csms, port), open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        assert settings.max_frame_bytes >= frames.full_local_list_bytes()
        store = auth_store(outbox)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS,
                                  auth_lists=store):  # fmt: skip
            await csms.ready.wait()
            assert await _reply(csms, full, "full") == [3, "full", {"status": "Accepted"}]
            assert await store.local_list_version() == 7
            # The whole list in one message is above SendLocalListMaxLength: a clear refusal,
            # not a closed connection.
            assert await _reply(csms, whole, "whole") == [3, "whole", {"status": "Failed"}]
            big = '[2, "big", "DataTransfer", {"vendorId": "x", "data": "%s"}]' % (
                "y" * (settings.max_frame_bytes + 1000)
            )
            reply = await _reply(csms, big, "big")
            assert reply[:3] == [4, "big", "FormationViolation"]
            assert csms.connections == 1 and csms.close_codes == []
            # Beyond the hard limit the frame is not buffered: 1009, then a new connection.
            huge = "[" + " " * frames.hard_limit_bytes(settings.max_frame_bytes) + "]"
            csms.ready.clear()
            assert csms.connection is not None
            await csms.connection.send(huge)
            await asyncio.wait_for(csms.ready.wait(), 30)
            assert csms.close_codes == [CloseCode.MESSAGE_TOO_BIG]
            assert await _reply(csms, full.replace('"full"', '"again"'), "again") == [
                3, "again", {"status": "Accepted"},
            ]  # fmt: skip
            assert csms.connections == 2


async def test_soft_reset_closes_the_connection_normally_and_boots_again(tmp_path: Path) -> None:
    async with raw_csms() as (csms, port), open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS):
            await csms.ready.wait()
            csms.ready.clear()
            reply = await csms.exchange('[2, "r1", "Reset", {"type": "Soft"}]')
            assert reply == [3, "r1", {"status": "Accepted"}]
            await asyncio.wait_for(csms.ready.wait(), 30)  # booted again on a new connection
    assert csms.close_codes[0] == CloseCode.GOING_AWAY, csms.close_codes


async def test_change_availability_answers_scheduled_only_when_it_must_wait(
    tmp_path: Path,
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.CHARGING, session_id="3")
    site.set("c1:2", Availability.AVAILABLE)
    async with raw_csms() as (csms, port), open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await csms.ready.wait()
            await wait_for(lambda: uplink.online)

            async def change(unique_id: str, connector: int, kind: str) -> str:
                frame = json.dumps(
                    [2, unique_id, "ChangeAvailability", {"connectorId": connector, "type": kind}]
                )
                reply = await _reply(csms, frame, unique_id)
                return str(reply[2]["status"])

            assert await change("a1", 1, "Operative") == "Accepted"  # already operative, busy
            assert await change("a2", 1, "Inoperative") == "Scheduled"  # waits for the end
            assert await change("a3", 1, "Operative") == "Accepted"  # cancels the wait
            assert await change("a4", 2, "Inoperative") == "Accepted"  # idle: at once
            assert await change("a5", 0, "Operative") == "Accepted"
            assert await change("a6", 0, "Inoperative") == "Scheduled"
            link = uplink.links["site1"]
            assert link.config.inoperative(0) and link.config.inoperative(2)
