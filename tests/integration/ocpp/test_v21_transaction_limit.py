"""A 2.1 CSMS's transactionLimit, at the wire of the schema-strict Node CSMS: the limit in its
answer to the Started event becomes a command for the session, is kept with it, and the
session's later TransactionEvents report it back; a session stopped at its 5,000 Wh ends with
EnergyLimitReached and its register difference."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest

from edge_controller.domain.commands import (
    Command,
    SetTransactionLimit,
    StopReason,
    TransactionLimit,
)
from edge_controller.storage.sessions_store import SessionStart, SessionStore
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    session_store,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer
from tests.outbox_events import announcing, ended, sampled

pytestmark = pytest.mark.integration
LIMIT = {"maxEnergy": 5000, "maxCost": 2.38, "maxTime": 3600}


class LimitKeepingSite(FakeSite):
    """Keeps each transaction limit with its session, as the session side does."""

    def __init__(self, store: SessionStore) -> None:
        super().__init__()
        self.store = store
        self.kept: list[bool] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, command: Command) -> bool:
        super().submit(command)
        if isinstance(command, SetTransactionLimit):
            task = asyncio.ensure_future(self._keep(command))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    async def _keep(self, command: SetTransactionLimit) -> None:
        local_id, when_s = command.session_local_id, time.time()
        self.kept.append(await self.store.set_limit(local_id, command.limit, when_s))


async def test_a_limit_from_the_csms_is_taken_kept_and_reported_back(tmp_path: Path) -> None:
    async with (
        strict_peer(protocols="ocpp2.1", transaction_limit=LIMIT) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        store = session_store(outbox)
        site = LimitKeepingSite(store)
        start = announcing("site1", "c1:1", 1000)
        record = await store.start(
            SessionStart("c1:1", "AABBCCDD", time.time() - 60, 1000, announce=start)
        )
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}):
            await wait_for(lambda: site.kept == [True])
            await asyncio.sleep(0.01)  # queued after the limit was kept
            await outbox.append("site1", sampled(record.local_id, 4000, at_s=time.time()))
            stop = ended(record.local_id, 6000, reason=StopReason.ENERGY_LIMIT,
                         at_s=time.time(), meter_start_wh=1000)  # fmt: skip
            await outbox.append("site1", stop)
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 3)
        kept = await store.limits_of_open()
    assert peer.invalid() == []
    want = TransactionLimit(Decimal("2.38"), Decimal("5000"), 3600, None)
    assert [c for c in site.commands if isinstance(c, SetTransactionLimit)] == [
        SetTransactionLimit(record.local_id, want)
    ]
    assert kept == {record.local_id: want}  # kept with the session (the test never closed it)
    started, updated, end = (c["params"] for c in peer.calls("TransactionEvent"))
    assert "transactionLimit" not in started["transactionInfo"]
    assert updated["transactionInfo"]["transactionLimit"] == LIMIT
    assert end["transactionInfo"]["transactionLimit"] == LIMIT
    assert end["transactionInfo"]["stoppedReason"] == "EnergyLimitReached"
    assert end["triggerReason"] == "EnergyLimitReached"
    begin = started["meterValue"][0]["sampledValue"][0]
    last = end["meterValue"][-1]["sampledValue"][0]
    assert (begin["context"], last["context"]) == ("Transaction.Begin", "Transaction.End")
    assert float(last["value"]) - float(begin["value"]) == 5000


async def test_a_2_0_1_connection_takes_no_limit_and_reports_none(tmp_path: Path) -> None:
    """The 2.0.1 schema has no transactionLimit: the same CSMS set-up on 2.0.1 sends none
    (the peer only adds it on 2.1) and the station's events pass the 2.0.1 schema."""
    async with (
        strict_peer(protocols="ocpp2.0.1", transaction_limit=LIMIT) as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        store = session_store(outbox)
        site = LimitKeepingSite(store)
        start = announcing("site1", "c1:1", 1000)
        record = await store.start(
            SessionStart("c1:1", "AABBCCDD", time.time() - 60, 1000, announce=start)
        )
        await store.set_limit(record.local_id, TransactionLimit(max_time_s=60), time.time() - 120)
        stop = ended(record.local_id, 6000, reason=StopReason.TIME_LIMIT, at_s=time.time())
        await outbox.append("site1", stop)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.0.1")
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(peer.calls("TransactionEvent")) == 2)
    assert peer.invalid() == []
    assert not [c for c in site.commands if isinstance(c, SetTransactionLimit)]
    end = peer.calls("TransactionEvent")[1]["params"]
    assert "transactionLimit" not in end["transactionInfo"]
    assert end["transactionInfo"]["stoppedReason"] == "TimeLimitReached"
