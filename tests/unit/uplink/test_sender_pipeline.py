"""The sender's read-ahead and acks, against a real outbox database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.sender_acks import AckPipeline
from edge_controller.uplink.sender_prefetch import Prefetch


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    db = await Database.open(tmp_path / "edge.db")
    yield Outbox(db)
    await db.close()


async def _append(outbox: Outbox, first: int, count: int, local_id: int | None = None) -> None:
    for n in range(first, first + count):
        await outbox.append("cp", "MeterValues", {"n": n}, session_local_id=local_id)


async def test_read_ahead_keeps_order_across_refills_and_new_appends(outbox: Outbox) -> None:
    await _append(outbox, 0, 10)
    seen: list[int] = []
    async with asyncio.TaskGroup() as tasks:
        queue = Prefetch(outbox, "cp", tasks, read_ahead=4, low_water=2)
        while (message := await queue.next()) is not None:
            seen.append(message.payload["n"])
            if len(seen) == 5:
                await _append(outbox, 10, 5)  # appended while the drain runs
    assert seen == list(range(15))


async def test_restart_reads_again_with_the_new_transaction_id(outbox: Outbox) -> None:
    await outbox.append("cp", "StartTransaction", {}, session_local_id=3)
    await _append(outbox, 0, 3, local_id=3)
    async with asyncio.TaskGroup() as tasks:
        queue = Prefetch(outbox, "cp", tasks, read_ahead=4, low_water=2)
        start = await queue.next()
        assert start is not None and start.action == "StartTransaction"
        await outbox.ack_many([start.seq], remote_ids={3: 77})
        await queue.restart()
        following = await queue.next()
    assert following is not None and following.payload == {"n": 0}
    assert following.remote_transaction_id == 77


async def test_acks_count_as_unwritten_until_a_flush_makes_them_durable(outbox: Outbox) -> None:
    await _append(outbox, 0, 6)
    acks = AckPipeline(outbox)
    rows = await outbox.peek_many("cp", limit=10)
    for row in rows[:3]:
        acks.add(row.seq)
    assert acks.unwritten == 3
    assert await outbox.backlog("cp") == 6  # nothing is written behind the sender's back
    await acks.flush()
    assert acks.unwritten == 0
    acks.add(rows[3].seq)
    await acks.flush()
    remaining = await outbox.peek_many("cp", limit=10)
    assert [m.payload["n"] for m in remaining] == [4, 5]


async def test_a_flush_with_a_transaction_id_records_it_with_the_ack(outbox: Outbox) -> None:
    await outbox.append("cp", "StartTransaction", {}, session_local_id=5)
    start = await outbox.peek("cp")
    assert start is not None
    acks = AckPipeline(outbox)
    acks.add(start.seq)
    await acks.flush(remote_ids={5: 901})
    assert await outbox.backlog("cp") == 0
    assert await outbox.remote_transaction_id(5) == 901


async def test_an_interrupted_write_keeps_its_acks_for_the_next_flush(outbox: Outbox) -> None:
    await _append(outbox, 0, 3)
    rows = await outbox.peek_many("cp", limit=10)
    acks = AckPipeline(outbox)
    for row in rows:
        acks.add(row.seq)
    flushing = asyncio.create_task(acks.flush())
    await asyncio.sleep(0)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert acks.unwritten == 3  # may or may not have committed: written again, idempotently
    await acks.flush()
    assert acks.unwritten == 0
    assert await outbox.backlog("cp") == 0
