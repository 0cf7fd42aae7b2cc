"""The sender's read-ahead and acks, against a real outbox database."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.storage.database import Database
from edge_controller.storage.errors import marker_path
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.outbox.journal import AckJournal, journal_path
from edge_controller.uplink.outbox.acks import AckPipeline
from edge_controller.uplink.outbox.prefetch import Prefetch
from tests.outbox_events import sampled, started, value_of


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    db = await Database.open(tmp_path / "edge.db")
    yield Outbox(db)
    await db.close()


async def _append(outbox: Outbox, first: int, count: int, local_id: int | None = None) -> None:
    for n in range(first, first + count):
        await outbox.append("cp", sampled(local_id, n))


async def test_read_ahead_keeps_order_across_refills_and_new_appends(outbox: Outbox) -> None:
    await _append(outbox, 0, 10)
    seen: list[int] = []
    async with asyncio.TaskGroup() as tasks:
        queue = Prefetch(outbox, "cp", tasks, read_ahead=4, low_water=2)
        while (message := await queue.next()) is not None:
            seen.append(value_of(message))
            if len(seen) == 5:
                await _append(outbox, 10, 5)  # appended while the drain runs
    assert seen == list(range(15))


async def test_restart_reads_again_with_the_new_transaction_id(outbox: Outbox) -> None:
    await outbox.append("cp", started(3))
    await _append(outbox, 0, 3, local_id=3)
    async with asyncio.TaskGroup() as tasks:
        queue = Prefetch(outbox, "cp", tasks, read_ahead=4, low_water=2)
        start = await queue.next()
        assert start is not None and start.event == started(3)
        await outbox.ack_many([start.seq], remote_ids={3: 77})
        await queue.restart()
        following = await queue.next()
    assert following is not None and value_of(following) == 0
    assert following.remote_transaction_id == 77


async def test_acks_count_as_unwritten_until_a_flush_makes_them_durable(outbox: Outbox) -> None:
    await _append(outbox, 0, 6)
    acks = AckPipeline(outbox, "cp")
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
    assert [value_of(m) for m in remaining] == [4, 5]


async def test_a_flush_with_a_transaction_id_records_it_with_the_ack(outbox: Outbox) -> None:
    await outbox.append("cp", started(5))
    start = await outbox.peek("cp")
    assert start is not None
    acks = AckPipeline(outbox, "cp")
    acks.add(start.seq)
    await acks.flush(remote_ids={5: 901})
    assert await outbox.backlog("cp") == 0
    assert await outbox.remote_transaction_id(5) == 901


async def test_an_interrupted_write_keeps_its_acks_for_the_next_flush(outbox: Outbox) -> None:
    await _append(outbox, 0, 3)
    rows = await outbox.peek_many("cp", limit=10)
    acks = AckPipeline(outbox, "cp")
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


async def _reopened_backlog(path: Path) -> tuple[int, list[int]]:
    """What a new process sees: the backlog, then the line read from its start."""
    db = await Database.open(path)
    try:
        fresh = Outbox(db)
        before = await fresh.backlog("cp")
        return before, [value_of(m) for m in await fresh.peek_many("cp", limit=20)]
    finally:
        await db.close()


async def test_secured_acks_hold_for_the_next_process_without_a_table_write(
    outbox: Outbox, tmp_path: Path
) -> None:
    await _append(outbox, 0, 5)
    acks = AckPipeline(outbox, "cp")
    for row in (await outbox.peek_many("cp", limit=10))[:3]:
        acks.add(row.seq)
    await acks.secure()
    # Durable in the journal only: the table still counts them, a reader from the start of the
    # line in a new process (as after a crash) marks them first and never sees them again.
    assert acks.journaled == 3 and await outbox.backlog("cp") == 5
    before, line = await _reopened_backlog(tmp_path / "edge.db")
    assert before == 5
    assert line == [3, 4]
    assert await outbox.backlog("cp") == 2


@pytest.mark.parametrize("clock_shift_s", [3e7, -86400.0])
async def test_acks_journaled_by_a_process_on_its_own_clock_hold_after_a_restart(
    tmp_path: Path, clock_shift_s: float
) -> None:
    """A site clock ahead of real time (or behind it) dates the rows, not the journal."""
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    ahead = Outbox(db, clock=lambda: time.time() + clock_shift_s)
    for n in range(4):
        await ahead.append("cp", sampled(None, n))
    acks = AckPipeline(ahead, "cp")
    for row in (await ahead.peek_many("cp", limit=10))[:3]:
        acks.add(row.seq)
    await acks.secure()
    await db.close()  # no flush: as a crash leaves it
    before, line = await _reopened_backlog(path)
    assert before == 4
    assert line == [3]


async def test_a_journal_left_by_a_crash_skips_rows_of_a_restored_backup(tmp_path: Path) -> None:
    """A backup taken before the acked rows existed gives their sequences to new rows: those
    are this process's own and are sent, whatever the clock says."""
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    outbox = Outbox(db)
    await _append(outbox, 0, 2)
    saved = await db.backup(tmp_path / "saved.db")
    await _append(outbox, 2, 3)
    acks = AckPipeline(outbox, "cp")
    for row in await outbox.peek_many("cp", after_seq=2, limit=10):
        acks.add(row.seq)
    await acks.secure()
    await db.close()  # no flush: as a crash leaves it
    _restore(saved, path)
    restored = await Database.open(path)
    try:
        later = Outbox(restored, clock=lambda: time.time() - 86400.0)
        await _append(later, 10, 3)  # sequences 3 to 5 again
        line = [value_of(m) for m in await later.peek_many("cp", limit=10)]
        assert line == [0, 1, 10, 11, 12]
    finally:
        await restored.close()


def _restore(saved: Path, path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    saved.replace(path)


async def test_acks_journaled_during_a_table_write_stay_durable(
    outbox: Outbox, tmp_path: Path
) -> None:
    await _append(outbox, 0, 6)
    rows = await outbox.peek_many("cp", limit=10)
    acks = AckPipeline(outbox, "cp")
    for row in rows[:2]:
        acks.add(row.seq)
    await acks.secure()
    async with asyncio.TaskGroup() as tasks:
        acks.flush_soon(tasks)
        await asyncio.sleep(0)  # the table write has begun with the first two
        acks.add(rows[2].seq)
        await acks.secure()
    assert acks.journaled == 1 and acks.unwritten == 1
    _, line = await _reopened_backlog(tmp_path / "edge.db")
    assert line == [3, 4, 5]


def _remove_database(path: Path) -> None:
    """As an operator starting with an empty database on purpose does (marker included)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    marker_path(path).unlink()


async def _crash_and_replace_database(path: Path) -> None:
    """Acks secured in the journal only, then the database (not the journal) is gone."""
    db = await Database.open(path)
    outbox = Outbox(db)
    await _append(outbox, 0, 3)
    acks = AckPipeline(outbox, "cp")
    for row in await outbox.peek_many("cp", limit=10):
        acks.add(row.seq)
    await acks.secure()
    await db.close()  # no flush: as a crash leaves it
    _remove_database(path)
    assert journal_path(path, "cp").exists()


@pytest.mark.parametrize("clock_shift_s", [60.0, -86400.0])
async def test_a_journal_left_by_a_crash_counts_only_for_its_own_database(
    tmp_path: Path, clock_shift_s: float
) -> None:
    """The new database's rows have the old sequence numbers; with the clock moved back (a
    gateway without a real-time clock) they even look older than the journal."""
    path = tmp_path / "edge.db"
    await _crash_and_replace_database(path)
    db = await Database.open(path)
    try:
        assert not journal_path(path, "cp").exists()  # a new database drops old journals
        later = Outbox(db, clock=lambda: time.time() + clock_shift_s)
        for n in range(10, 13):
            await later.append("cp", sampled(None, n))
        assert [value_of(m) for m in await later.peek_many("cp", limit=10)] == [10, 11, 12]
    finally:
        await db.close()


async def test_a_torn_journal_record_is_ignored(outbox: Outbox, tmp_path: Path) -> None:
    await _append(outbox, 0, 3)
    rows = await outbox.peek_many("cp", limit=10)
    acks = AckPipeline(outbox, "cp")
    acks.add(rows[0].seq)
    await acks.secure()
    journal = journal_path(tmp_path / "edge.db", "cp")
    with journal.open("ab") as tail:
        tail.write(rows[1].seq.to_bytes(8, "little"))  # a write cut short: no time
    _, line = await _reopened_backlog(tmp_path / "edge.db")
    assert line == [1, 2]


def test_appends_after_a_torn_record_stay_readable(tmp_path: Path) -> None:
    path = tmp_path / "edge.db-acks-6370"
    path.write_bytes(bytes(16) + b"\x05\x00\x00")  # a zero record and a write a crash cut short
    journal = AckJournal(path)
    journal.append([7, 8])
    assert AckJournal(path).recovered == [7, 8]


async def test_acks_go_to_the_table_when_the_journal_cannot_be_written(
    outbox: Outbox, tmp_path: Path
) -> None:
    await _append(outbox, 0, 3)
    _block(journal_path(tmp_path / "edge.db", "cp"))
    acks = AckPipeline(outbox, "cp")
    acks.add((await outbox.peek_many("cp", limit=1))[0].seq)
    await acks.secure()
    assert acks.unwritten == 0 and await outbox.backlog("cp") == 2


def _block(path: Path) -> None:
    path.mkdir()  # a directory where the file should be: every open fails


def _open_on(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


async def test_a_settled_journal_keeps_no_file_open(outbox: Outbox, tmp_path: Path) -> None:
    # One file open per identity that ever sent would grow with the site's identities (a
    # thousand at a charger each), though only those with unsettled acks need theirs.
    await _append(outbox, 0, 4)
    rows = await outbox.peek_many("cp", limit=10)
    acks = AckPipeline(outbox, "cp")
    journal = journal_path(tmp_path / "edge.db", "cp")
    acks.add(rows[0].seq)
    await acks.secure()
    assert _open_on(journal) == 1
    await outbox.ack_many([], journal="cp")
    assert _open_on(journal) == 0 and journal.stat().st_size == 0
    for row in rows[1:]:  # appended again after the close, then read by a new process
        acks.add(row.seq)
    await acks.secure()
    assert _open_on(journal) == 1
    assert AckJournal(journal).recovered == [row.seq for row in rows[1:]]
    assert await outbox.backlog("cp") == 3
