"""The outbox sender keeps no task while its line is empty: a commit that queues messages for
its identity starts a drain in the connection's group, which ends once the line is empty again.
At a thousand idle identities a waiting sender was a thousand tasks (with their task groups,
coroutines and wake-up futures) that only waited. Against the bench CSMS and a real outbox, on
1.6 and 2.0.1: what is queued goes out once, in order, whether queued while no drain runs,
while one runs, or while one is ending."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.sessions_store import EventToQueue, SessionStart
from edge_controller.uplink.outbox.sender import OutboxSender
from edge_controller.uplink.service import OcppUplink
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    session_store,
    settings_for,
    wait_for,
)
from tests.outbox_events import announcing, sampled

pytestmark = pytest.mark.integration
TRANSACTION_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction", "TransactionEvent")


def _transaction_calls(csms: BenchCsms) -> list[tuple[str, dict[str, Any]]]:
    return [(a, p) for i, a, p in csms.record.calls if i == IDENTITY and a in TRANSACTION_ACTIONS]


def _sender(uplink: OcppUplink) -> OutboxSender:
    return uplink.sessions[IDENTITY].sender


def _settled(uplink: OcppUplink) -> bool:
    session = uplink.sessions.get(IDENTITY)
    return session is not None and session.link.accepted and session.sender.idle.is_set()


def _registers(calls: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """The energy registers of the samples sent, in the order the CSMS got them."""
    found: list[int] = []
    for action, payload in calls:
        updated = action == "TransactionEvent" and payload["eventType"] == "Updated"
        if action == "MeterValues" or updated:
            found += [int(v["sampledValue"][0]["value"]) for v in payload["meterValue"]]
    return found


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_idle_sender_keeps_no_task_and_a_commit_starts_one(
    tmp_path: Path, version: str
) -> None:
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", version=version)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: _settled(uplink))
            assert _sender(uplink).task is None  # the start-up events sent, nothing waits
            sessions = session_store(outbox)
            record = await sessions.start(
                SessionStart("c1:1", "AABBCCDD", time.time() - 60, 1000,
                             announce=announcing(IDENTITY, "c1:1", 1000))
            )  # fmt: skip
            for n, energy_wh in enumerate((1100, 1250, 1400)):
                at_s = time.time() - 30 + n
                queued = (EventToQueue(IDENTITY, sampled(record.local_id, energy_wh, at_s=at_s)),)
                assert await sessions.sample(record.local_id, at_s, energy_wh, events=queued)
            await wait_for(lambda: len(_transaction_calls(csms)) == 4)
            await wait_for(lambda: _settled(uplink))
            assert _sender(uplink).task is None
            assert await outbox.backlog(IDENTITY) == 0
    calls = _transaction_calls(csms)
    assert _registers(calls) == [1100, 1250, 1400]  # once each, in order
    first = calls[0][1]
    assert first.get("meterStart", 1000) == 1000
    assert csms.record.unknown_transaction_ids == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_message_queued_while_a_drain_ends_is_sent(tmp_path: Path, version: str) -> None:
    """A commit after the drain found its line empty, while it writes its acks on the way
    out, finds the drain still running: the wake-up it leaves starts the next one."""
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", version=version)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: _settled(uplink))
            sessions = session_store(outbox)
            record = await sessions.start(
                SessionStart("c1:1", "AABBCCDD", time.time() - 60, 1000,
                             announce=announcing(IDENTITY, "c1:1", 1000))
            )  # fmt: skip
            await wait_for(lambda: len(_transaction_calls(csms)) == 1)
            await wait_for(lambda: _settled(uplink))
            sender = _sender(uplink)
            flush_on_exit = sender.acks.flush_on_exit
            queued_late: list[bool] = []

            async def queue_then_flush() -> None:
                if not queued_late:
                    queued_late.append(True)
                    at_s = time.time() - 10
                    late = (EventToQueue(IDENTITY, sampled(record.local_id, 1700, at_s=at_s)),)
                    assert await sessions.sample(record.local_id, at_s, 1700, events=late)
                    assert sender.task is not None  # the ending drain took the wake-up
                await flush_on_exit()

            sender.acks.flush_on_exit = queue_then_flush  # type: ignore[method-assign]
            at_s = time.time() - 20
            first = (EventToQueue(IDENTITY, sampled(record.local_id, 1500, at_s=at_s)),)
            assert await sessions.sample(record.local_id, at_s, 1500, events=first)
            await wait_for(lambda: _registers(_transaction_calls(csms)) == [1500, 1700])
            await wait_for(lambda: _settled(uplink))
            assert queued_late and sender.task is None
            assert await outbox.backlog(IDENTITY) == 0
    assert _registers(_transaction_calls(csms)) == [1500, 1700]


async def test_a_drain_stopped_with_its_connection_leaves_the_rest_for_the_next(
    tmp_path: Path,
) -> None:
    """The CSMS goes away while messages wait: none is lost and none sent twice once it is
    back (the drain of the old connection ended with it, the new connection's sends them)."""
    csms = BenchCsms()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        server = await csms.start("127.0.0.1", 0)
        port = next(iter(server.sockets)).getsockname()[1]
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: _settled(uplink))
            sessions = session_store(outbox)
            record = await sessions.start(
                SessionStart("c1:1", "AABBCCDD", time.time() - 60, 1000,
                             announce=announcing(IDENTITY, "c1:1", 1000))
            )  # fmt: skip
            await wait_for(lambda: len(_transaction_calls(csms)) == 1)
            server.close()
            await server.wait_closed()
            await wait_for(lambda: IDENTITY not in uplink.sessions)
            for n in range(5):  # queued off line: no drain, no task
                at_s = time.time() - 30 + n
                queued = (EventToQueue(IDENTITY, sampled(record.local_id, 2000 + n, at_s=at_s)),)
                assert await sessions.sample(record.local_id, at_s, 2000 + n, events=queued)
            server = await csms.start("127.0.0.1", port)
            try:
                await wait_for(lambda: len(_transaction_calls(csms)) == 6)
                await wait_for(lambda: _settled(uplink))
                assert _sender(uplink).task is None
            finally:
                server.close()
                await server.wait_closed()
    assert _registers(_transaction_calls(csms)) == [2000, 2001, 2002, 2003, 2004]
