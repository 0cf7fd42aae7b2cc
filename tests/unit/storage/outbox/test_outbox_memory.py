"""What the outbox tells and keeps beside the database: the identities each commit put rows in
line for (the senders wait for that instead of polling), and the CSMS transaction ids of
sessions (smart charging and metering ask for them every few seconds per session)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import TypeVar

import pytest

from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox import store as store_module
from edge_controller.storage.sessions_store import SessionStart, SessionStore
from tests.outbox_events import T0_S, announcing, sampled, started

T = TypeVar("T")


class CountingDatabase(Database):
    reads = 0

    async def read(self, job: Callable[..., T]) -> T:
        self.reads += 1
        return await super().read(job)


@pytest.fixture
async def counted(tmp_path: Path) -> AsyncIterator[CountingDatabase]:
    database = await CountingDatabase.open(tmp_path / "edge.db")
    yield database
    await database.close()


def _told(outbox: Outbox) -> list[set[str]]:
    told: list[set[str]] = []

    def listener(identities: Collection[str]) -> None:
        told.append(set(identities))

    outbox.on_queued(listener)
    return told


async def test_each_commit_tells_whose_rows_it_put_in_line(counted: CountingDatabase) -> None:
    outbox = Outbox(counted)
    told = _told(outbox)
    await outbox.append("cp-a", sampled(None, 1))
    # The session side's own transaction, not through the outbox object.
    start = SessionStart("c1:1", "AABBCCDD", T0_S, 1000, announce=announcing("cp-b"))
    await SessionStore(counted).start(start)
    assert told == [{"cp-a"}, {"cp-b"}]
    # Written at once: told in one commit or two, each after its own.
    await asyncio.gather(*(outbox.append(i, sampled(None, 2)) for i in ("cp-c", "cp-d")))
    assert set().union(*told[2:]) == {"cp-c", "cp-d"}
    parked = await outbox.append("cp-e", started(5))
    del told[:]
    head, failing = await outbox.peek("cp-a"), await outbox.peek("cp-c")
    assert head is not None and failing is not None
    await outbox.ack(head.seq)
    await outbox.park(parked, "refused")
    await outbox.record_failure(failing.seq, "timeout")
    assert told == []  # nothing new in line: no sender is woken
    await outbox.requeue(parked)
    assert told == [{"cp-e"}]
    moved = [m.seq for m in await outbox.peek_many("cp-e", limit=5)]
    assert moved == [parked]


async def test_a_transaction_id_is_read_once_and_kept_where_written(
    counted: CountingDatabase, tmp_path: Path
) -> None:
    outbox = Outbox(counted)
    start = await outbox.append("cp", started(7))
    assert await outbox.remote_transaction_id(7) is None
    reads = counted.reads
    assert await outbox.remote_transaction_id(7) is None
    assert counted.reads == reads  # not known yet, and known not to be
    await outbox.ack_many([start], remote_ids={7: 4242})
    await outbox.set_remote_transaction_id(8, 99)
    assert await outbox.remote_transaction_id(7) == 4242
    assert await outbox.remote_transaction_id(8) == 99
    assert counted.reads == reads
    # The database is the truth for the next process.
    again = await Database.open(tmp_path / "edge.db")
    try:
        assert await Outbox(again).remote_transaction_id(7) == 4242
    finally:
        await again.close()


async def test_the_kept_transaction_ids_are_bounded(
    counted: CountingDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "REMOTE_IDS_KEPT", 3)
    outbox = Outbox(counted)
    for local_id in range(1, 5):
        await outbox.set_remote_transaction_id(local_id, 100 + local_id)
    reads = counted.reads
    assert [await outbox.remote_transaction_id(i) for i in (2, 3, 4)] == [102, 103, 104]
    assert counted.reads == reads
    assert await outbox.remote_transaction_id(1) == 101  # the oldest went: read again
    assert counted.reads == reads + 1
