"""Draining a backlog with read-ahead: order, exactly once, crash safety."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from edge_controller.sim.csms import BenchCsms, CsmsBehaviour
from edge_controller.storage.outbox import Outbox
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
VALUES_PER_SESSION = 30
REPO = Path(__file__).resolve().parents[3]
TRANSACTION_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")


async def _queue_session(outbox: Outbox, local_id: int) -> list[tuple[str, int]]:
    """Start, values, stop of one offline session; returns the marker of each message."""
    base = local_id * 1000
    await outbox.append("site1", started(local_id, "c1:1", meter_wh=base))
    markers = [("start", base)]
    for i in range(1, VALUES_PER_SESSION + 1):
        await outbox.append("site1", sampled(local_id, base + i, "c1:1", at_s=T0_S + 600))
        markers.append(("value", base + i))
    await outbox.append("site1", ended(local_id, base + 999))
    return [*markers, ("stop", base + 999)]


def _marker(action: str, payload: dict[str, Any]) -> tuple[str, int]:
    if action == "StartTransaction":
        return "start", int(payload["meterStart"])
    if action == "StopTransaction":
        return "stop", int(payload["meterStop"])
    return "value", int(payload["meterValue"][0]["sampledValue"][0]["value"])


def _delivered(csms: BenchCsms) -> list[tuple[str, int]]:
    return [_marker(a, p) for _, a, p in csms.record.calls if a in TRANSACTION_ACTIONS]


def _check_ids(csms: BenchCsms, *, sessions: int, most_orphans: int = 0) -> None:
    """Every value and stop carried the id the CSMS gave its session's start. An orphan is the
    transaction of a start that was in flight at a crash and is sent again: the CSMS may have
    opened it before the connection died, and nothing more ever refers to it."""
    assert csms.record.unknown_transaction_ids == []
    closed = [tx for tx in csms.record.transactions.values() if tx["stop"] is not None]
    assert len(closed) == sessions
    assert len(csms.record.transactions) - len(closed) <= most_orphans
    for tx in closed:
        base = tx["meterStart"]
        assert tx["stop"]["meterStop"] == base + 999
        values = [int(v["sampledValue"][0]["value"]) for v in tx["meterValues"]]
        assert sorted(set(values)) == list(range(base + 1, base + VALUES_PER_SESSION + 1))


async def test_backlog_with_appends_during_the_drain_is_delivered_in_order_once(
    tmp_path: Path,
) -> None:
    # Each StartTransaction answer is slow: the values behind it are read ahead without the
    # CSMS transaction id and must be sent with it all the same.
    csms = BenchCsms(CsmsBehaviour(answer_delay_s=0.002))
    site = FakeSite()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        expected = [m for local_id in (1, 2, 3) for m in await _queue_session(outbox, local_id)]
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
                await wait_for(lambda: len(_delivered(csms)) > 40)
                for local_id in (4, 5):  # queued while the backlog drains
                    expected += await _queue_session(outbox, local_id)
                    uplink.notify_outbox()
                await wait_for(lambda: len(_delivered(csms)) >= len(expected))
                await wait_for(lambda: all_answered(uplink, csms))
        assert await outbox.backlog() == 0
        assert await outbox.parked() == []
    assert _delivered(csms) == expected
    assert [c[0] for c in site.confirmed] == [1, 2, 3, 4, 5]
    _check_ids(csms, sessions=5)


def _backlog(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return int(
            conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        )
    finally:
        conn.close()


async def _child(db_path: Path, port: int, state_dir: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.ocpp.replay_child",
        str(db_path),
        f"ws://127.0.0.1:{port}",
        str(state_dir),
        cwd=REPO,
    )


async def _stop(proc: asyncio.subprocess.Process, sig: int) -> None:
    if proc.returncode is None:
        proc.send_signal(sig)
        await asyncio.wait_for(proc.wait(), 10)


def _split_at_restart(
    delivered: list[tuple[str, int]], expected: list[tuple[str, int]]
) -> tuple[int, int]:
    """(messages delivered before the restart, messages the restart sent again)."""
    before = 0
    while before < len(delivered) and delivered[before] == expected[before]:
        before += 1
    resent = len(delivered) - len(expected)
    assert delivered[before:] == expected[before - resent :], "order broken after the restart"
    return before, resent


async def test_killed_mid_drain_resends_at_most_the_message_in_flight(tmp_path: Path) -> None:
    db_path = tmp_path / "db.sqlite"
    async with open_outbox(db_path) as outbox:
        expected = [m for local_id in range(1, 7) for m in await _queue_session(outbox, local_id)]
    csms = BenchCsms(CsmsBehaviour(answer_delay_s=0.003))
    async with running_csms(csms) as port:
        first = await _child(db_path, port, tmp_path)
        try:
            # Killed amid the meter values of a session, with a CALL in flight or just answered.
            await wait_for(lambda: len(_delivered(csms)) >= len(expected) // 3 + 8)
            await _stop(first, signal.SIGKILL)  # no flush, no goodbye: a process crash
        finally:
            await _stop(first, signal.SIGKILL)
        at_kill = len(_delivered(csms))
        second = await _child(db_path, port, tmp_path)
        try:
            await wait_for(lambda: _backlog(db_path) == 0)
        finally:
            await _stop(second, signal.SIGKILL)
    delivered = _delivered(csms)
    assert at_kill < len(expected)  # the kill did land in the middle of the drain
    before, resent = _split_at_restart(delivered, expected)
    assert before >= at_kill - 1
    # Every ack is written before the next CALL: only the message in flight comes again.
    assert 0 <= resent <= 1
    window = expected[before - resent : before]
    starts = Counter(m for m in delivered if m[0] == "start")
    start_in_flight = 1 if window and window[0][0] == "start" else 0
    assert sum(starts.values()) == 6 + start_in_flight
    _check_ids(csms, sessions=6, most_orphans=start_in_flight)
