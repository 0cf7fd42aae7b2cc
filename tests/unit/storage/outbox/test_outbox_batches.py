"""Reading ahead and acking in batches: what a pipelined sender relies on."""

from __future__ import annotations

import pytest

from edge_controller.storage.database import Database
from edge_controller.storage.errors import StorageError
from edge_controller.storage.outbox import Outbox
from tests.outbox_events import sampled, started, value_of


async def _fill(outbox: Outbox, count: int, session_local_id: int | None = None) -> list[int]:
    return [await outbox.append("cp", sampled(session_local_id, n)) for n in range(count)]


async def test_peek_many_reads_in_order_after_a_sequence(db: Database) -> None:
    outbox = Outbox(db)
    seqs = await _fill(outbox, 6)
    await outbox.append("other", sampled(None, 99))
    await outbox.park(seqs[2], "bad")
    first = await outbox.peek_many("cp", limit=3)
    assert [m.seq for m in first] == [seqs[0], seqs[1], seqs[3]]
    rest = await outbox.peek_many("cp", after_seq=first[-1].seq, limit=10)
    assert [value_of(m) for m in rest] == [4, 5]
    assert await outbox.peek_many("cp", after_seq=seqs[-1], limit=10) == []
    head = await outbox.peek("cp", after_seq=seqs[0])
    assert head is not None and head.seq == seqs[1]


async def test_ack_many_settles_messages_and_records_the_remote_id_together(
    db: Database,
) -> None:
    outbox = Outbox(db)
    start = await outbox.append("cp", started(7))
    values = await _fill(outbox, 2, session_local_id=7)
    ahead = await outbox.peek_many("cp", limit=10)
    assert [m.remote_transaction_id for m in ahead] == [None, None, None]

    assert await outbox.ack_many([start], remote_ids={7: 4242}) == 1
    again = await outbox.peek_many("cp", limit=10)
    assert [m.seq for m in again] == values
    assert {m.remote_transaction_id for m in again} == {4242}
    assert await outbox.remote_transaction_id(7) == 4242

    assert await outbox.ack_many([start, *values]) == 2  # already acked ones are not counted
    assert await outbox.backlog("cp") == 0


async def test_ack_many_writes_nothing_when_the_batch_fails(db: Database) -> None:
    outbox = Outbox(db)
    seqs = await _fill(outbox, 3)
    with pytest.raises(StorageError):  # the NOT NULL constraint refuses the id
        await outbox.ack_many(seqs, remote_ids={1: None})  # type: ignore[dict-item]
    assert await outbox.backlog("cp") == 3
    assert await outbox.remote_transaction_id(1) is None
