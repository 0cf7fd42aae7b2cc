"""Local list management and cache clearing against the real authorization store."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.domain.sessions.authorization import AuthStatus
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from tests.integration.ocpp.harness import (
    FakeSite,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_send_local_list_full_then_differential(tmp_path: Path) -> None:
    csms = BenchCsms()
    db = await Database.open(tmp_path / "db.sqlite")
    store = AuthStore(db)
    try:
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(
                settings, FakeSite(), Outbox(db), tmp_path, {"c1": 1}, auth_lists=store
            ) as uplink:
                await wait_for(lambda: uplink.online)
                send = csms.send
                assert await send("site1", "GetLocalListVersion", {}) == {"listVersion": 0}
                full = [
                    {"idTag": "04a2b3c4", "idTagInfo": {"status": "Accepted"}},
                    {
                        "idTag": "CARD2",
                        "idTagInfo": {"status": "Blocked", "expiryDate": "2030-01-01T00:00:00Z"},
                    },
                ]
                answer = await send(
                    "site1",
                    "SendLocalList",
                    {"listVersion": 3, "updateType": "Full", "localAuthorizationList": full},
                )
                assert answer == {"status": "Accepted"}
                stale = await send(
                    "site1", "SendLocalList", {"listVersion": 3, "updateType": "Differential"}
                )
                assert stale == {"status": "VersionMismatch"}
                diff = [{"idTag": "CARD2"}, {"idTag": "CARD3", "idTagInfo": {"status": "Accepted"}}]
                answer = await send(
                    "site1",
                    "SendLocalList",
                    {
                        "listVersion": 4,
                        "updateType": "Differential",
                        "localAuthorizationList": diff,
                    },
                )
                assert answer == {"status": "Accepted"}
                assert await send("site1", "GetLocalListVersion", {}) == {"listVersion": 4}
                assert await send("site1", "ClearCache", {}) == {"status": "Accepted"}
        entries = {e.id_tag: e.status for e in await store.local_list()}
        assert entries == {"04A2B3C4": AuthStatus.ACCEPTED, "CARD3": AuthStatus.ACCEPTED}
    finally:
        await db.close()
