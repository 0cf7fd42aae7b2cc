from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from edge_controller.domain.sessions.events import Quantity, Reading
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from tests.outbox_events import ended, sampled, started
from tests.unit.storage.conftest import FakeClock


async def test_messages_come_out_in_order_per_identity(db: Database, clock: FakeClock) -> None:
    outbox = Outbox(db, clock=clock)
    a1 = await outbox.append("cp-a", started(1))
    b1 = await outbox.append("cp-b", sampled(None, 1))
    a2 = await outbox.append("cp-a", ended(1, 5))
    assert a1 < b1 < a2
    first = await outbox.peek("cp-a")
    assert first is not None and first.seq == a1 and first.event == started(1)
    assert first.kind == "start" and first.session_local_id == 1
    assert await outbox.ack(a1)
    second = await outbox.peek("cp-a")
    assert second is not None and second.seq == a2 and second.event == ended(1, 5)
    assert await outbox.backlog() == 2
    assert await outbox.backlog("cp-a") == 1
    assert await outbox.identities() == ["cp-a", "cp-b"]


async def test_ack_is_idempotent(db: Database) -> None:
    outbox = Outbox(db)
    seq = await outbox.append("cp", sampled(None, 0))
    assert await outbox.ack(seq) is True
    assert await outbox.ack(seq) is False
    assert await outbox.peek("cp") is None


async def test_failure_keeps_message_first_and_counts_attempts(db: Database) -> None:
    outbox = Outbox(db)
    seq = await outbox.append("cp", sampled(None, 1))
    assert await outbox.record_failure(seq, "timeout") == 1
    assert await outbox.record_failure(seq, "connection lost") == 2
    head = await outbox.peek("cp")
    assert head is not None and head.seq == seq
    assert head.attempts == 2 and head.last_error == "connection lost"
    with pytest.raises(KeyError):
        await outbox.record_failure(seq + 100, "nope")


async def test_parked_message_is_kept_and_can_be_requeued(db: Database) -> None:
    outbox = Outbox(db)
    bad = await outbox.append("cp", sampled(None, 2))
    good = await outbox.append("cp", sampled(None, 0))
    await outbox.park(bad, "FormationViolation")
    head = await outbox.peek("cp")
    assert head is not None and head.seq == good
    parked = await outbox.parked()
    assert [m.seq for m in parked] == [bad] and parked[0].last_error == "FormationViolation"
    assert (await outbox.stats()).parked == 1
    await outbox.requeue(bad)
    head = await outbox.peek("cp")
    assert head is not None and head.seq == bad


async def test_remote_transaction_id_is_joined_at_read_time(db: Database) -> None:
    outbox = Outbox(db)
    await outbox.append("cp", started(7))
    stop = await outbox.append("cp", ended(7, 9))
    head = await outbox.peek("cp")
    assert head is not None and head.remote_transaction_id is None
    await outbox.set_remote_transaction_id(7, 4242)
    assert await outbox.ack(head.seq)
    nxt = await outbox.peek("cp")
    assert nxt is not None and nxt.seq == stop and nxt.remote_transaction_id == 4242
    assert await outbox.remote_transaction_id(7) == 4242
    assert await outbox.remote_transaction_id(8) is None


async def test_prune_removes_only_old_acked_messages(db: Database, clock: FakeClock) -> None:
    outbox = Outbox(db, clock=clock)
    old = await outbox.append("cp", sampled(None, 0))
    await outbox.ack(old)
    clock.now_s += 3600
    recent = await outbox.append("cp", sampled(None, 0))
    await outbox.ack(recent)
    pending = await outbox.append("cp", sampled(None, 0))
    assert await outbox.prune(older_than_s=1800) == 1
    assert await outbox.ack(old) is False  # gone
    head = await outbox.peek("cp")
    assert head is not None and head.seq == pending


async def test_thinning_drops_only_intermediate_samples(db: Database) -> None:
    outbox = Outbox(db, capacity=10, warn_fraction=0.5)
    outbox.capacity.check_every = 1
    events = [started(1), *(sampled(1, 1000 + n) for n in range(10)), ended(1, 1010)]
    for event in events:
        await outbox.append("cp", event)
    stats = await outbox.stats()
    assert stats.thinned > 0 and stats.near_capacity
    remaining: list[str] = []
    while (msg := await outbox.peek("cp")) is not None:
        remaining.append(msg.kind)
        await outbox.ack(msg.seq)
    assert remaining.count("start") == 1 and remaining.count("stop") == 1
    assert remaining.count("sample") == 10 - stats.thinned


async def test_concurrent_appends_are_group_committed(db: Database) -> None:
    outbox = Outbox(db)
    before = db.commits
    seqs = await asyncio.gather(*(outbox.append("cp", sampled(None, i)) for i in range(50)))
    assert sorted(seqs) == seqs and len(set(seqs)) == 50
    assert db.commits - before < 50
    assert await outbox.backlog() == 50


async def test_messages_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    first = await Database.open(path)
    seq = await Outbox(first).append("cp", started(3, id_tag="AB"))
    await first.close()
    second = await Database.open(path)
    try:
        head = await Outbox(second).peek("cp")
        assert head is not None and head.seq == seq and head.kind == "start"
        assert head.event == started(3, id_tag="AB")
    finally:
        await second.close()


async def test_a_value_that_is_no_number_is_refused_and_nothing_recorded(db: Database) -> None:
    outbox = Outbox(db)
    with pytest.raises(ValueError):
        await outbox.append("cp", sampled(None, 1, at_s=float("nan")))
    bad = Reading(Quantity.POWER_IMPORT_W, Decimal("NaN"))
    with pytest.raises(ValueError, match="NaN"):
        await outbox.append("cp", replace(sampled(None, 1), readings=(bad,)))
    assert await outbox.backlog() == 0


async def test_each_message_knows_its_place_in_its_session(db: Database, clock: FakeClock) -> None:
    """OCPP 2.x numbers a transaction's messages (seqNo) from this place: the same at every
    read, and without gaps, also when other sessions' messages are in between."""
    outbox = Outbox(db, clock=clock)
    s1 = await outbox.append("cp", started(1))
    await outbox.append("cp", started(2, "c1:2"))
    await outbox.append("cp", sampled(1, 2000))
    await outbox.append("cp", sampled(None, 2000))
    await outbox.append("cp", ended(2, 3000, "c1:2"))
    await outbox.append("cp", ended(1, 4000))
    await outbox.ack(s1)
    places = [
        (m.session_local_id, m.session_position) for m in await outbox.peek_many("cp", limit=9)
    ]
    assert places == [(2, 0), (1, 1), (None, None), (2, 1), (1, 2)]


async def test_prune_keeps_a_session_with_messages_still_to_send(
    db: Database, clock: FakeClock
) -> None:
    """Pruning the acked start of a session whose end is still queued would renumber the end."""
    outbox = Outbox(db, clock=clock)
    start = await outbox.append("cp", started(1))
    await outbox.ack(start)
    finished = await outbox.append("cp", started(2, "c1:2"))
    await outbox.ack(finished)
    await outbox.ack(await outbox.append("cp", ended(2, 3000, "c1:2")))
    await outbox.append("cp", ended(1, 4000))
    clock.now_s += 3600
    assert await outbox.prune(older_than_s=1800) == 2  # only session 2's
    head = await outbox.peek("cp")
    assert head is not None and head.session_position == 1
