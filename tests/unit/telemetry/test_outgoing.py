"""The bounded outgoing queue: latest state wins, oldest events dropped, replay on reconnect."""

from __future__ import annotations

import asyncio
from typing import Any

from edge_controller.telemetry.outgoing import OutgoingQueue, OutMessage


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.lines.append((event, kw))

    info = warning


def make(max_events: int = 3, max_bytes: int = 10_000, max_topics: int = 16) -> OutgoingQueue:
    return OutgoingQueue(
        max_events=max_events, max_bytes=max_bytes, max_state_topics=max_topics, log=RecordingLog()
    )


def state(topic: str, body: bytes) -> OutMessage:
    return OutMessage(topic, body, retain=True, qos=1)


def event(body: bytes) -> OutMessage:
    return OutMessage("e", body, qos=1)


async def drain(queue: OutgoingQueue) -> list[OutMessage]:
    out = []
    while queue.stats().pending_events or queue.stats().pending_states:
        msg = await queue.get()
        queue.sent(msg)
        out.append(msg)
    return out


async def test_latest_state_wins_per_topic() -> None:
    queue = make()
    for i in range(100):
        queue.put_state(state("a", f"{i}".encode()))
    queue.put_state(state("b", b"x"))
    sent = await drain(queue)
    assert [(m.topic, m.payload) for m in sent] == [("a", b"99"), ("b", b"x")]


async def test_every_topic_is_sent_in_turn_when_more_change_than_the_link_sends() -> None:
    # Six topics change every tick and the link sends two a tick: each is sent within three
    # ticks, with its latest payload (a replaced topic moved to the back was never sent).
    queue, sent = make(), []
    for tick in range(6):
        for topic in "abcdef":
            queue.put_state(state(topic, f"{topic}{tick}".encode()))
        for _ in range(2):
            msg = await queue.get()
            queue.sent(msg)
            sent.append(msg.payload.decode())
    assert sent == ["a0", "b0", "c1", "d1", "e2", "f2", "a3", "b3", "c4", "d4", "e5", "f5"]


async def test_oldest_events_are_dropped_counted_and_logged_once() -> None:
    log = RecordingLog()
    queue = OutgoingQueue(max_events=3, max_bytes=10_000, max_state_topics=16, log=log)
    for i in range(10):
        queue.put_event(event(f"{i}".encode()))
    assert queue.stats().dropped_events == 7
    assert [m.payload for m in await drain(queue)] == [b"7", b"8", b"9"]
    assert [e for e, _ in log.lines] == ["mqtt_events_dropped", "mqtt_backlog_drained"]


async def test_byte_bound_applies_to_events() -> None:
    queue = make(max_events=1000, max_bytes=100)
    for _ in range(50):
        queue.put_event(event(b"x" * 30))
    stats = queue.stats()
    assert stats.pending_bytes <= 100
    assert stats.pending_events == 3


async def test_new_state_topic_beyond_cap_is_refused() -> None:
    queue = make(max_topics=2)
    queue.put_state(state("a", b"1"))
    queue.put_state(state("b", b"1"))
    queue.put_state(state("c", b"1"))
    queue.put_state(state("a", b"2"))  # a known topic is still updated
    assert queue.stats().refused_topics == 1
    assert {m.topic: m.payload for m in await drain(queue)} == {"a": b"2", "b": b"1"}


async def test_replay_requeues_published_states_but_not_over_newer() -> None:
    queue = make()
    queue.put_state(state("a", b"old-a"))
    queue.put_state(state("b", b"old-b"))
    await drain(queue)
    queue.put_state(state("b", b"new-b"))
    queue.replay_states()
    assert {m.topic: m.payload for m in await drain(queue)} == {"a": b"old-a", "b": b"new-b"}


async def test_failed_publish_is_retried_unless_superseded() -> None:
    queue = make()
    queue.put_state(state("a", b"1"))
    queue.put_event(event(b"e1"))
    first = await queue.get()
    queue.retry(first)  # the event goes back to the front
    second = await queue.get()
    queue.put_state(state("a", b"2"))
    queue.retry(second)  # the stale state is not put back over the newer one
    assert [m.payload for m in await drain(queue)] == [b"e1", b"2"]


async def test_get_waits_for_a_message() -> None:
    queue = make()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.put_event(event(b"late"))
    assert (await asyncio.wait_for(waiter, 5)).payload == b"late"


async def test_a_refused_topic_is_counted_each_time_and_logged_once() -> None:
    log = RecordingLog()
    queue = OutgoingQueue(max_events=3, max_bytes=10_000, max_state_topics=16, log=log)
    for n in range(16):
        queue.put_state(state(f"t{n}", b"1"))
    for _ in range(50):  # every publish round tries the refused topics again
        queue.put_state(state("late1", b"1"))
        queue.put_state(state("late2", b"1"))
    assert queue.stats().refused_topics == 100
    refused = [kw["topic"] for event, kw in log.lines if event == "mqtt_state_topic_refused"]
    assert refused == ["late1", "late2"]


async def test_a_message_not_sent_by_its_deadline_is_dropped_and_not_replayed() -> None:
    now = [0.0]
    queue = OutgoingQueue(
        max_events=3, max_bytes=10_000, max_state_topics=16, log=RecordingLog(),
        clock=lambda: now[0],
    )  # fmt: skip
    queue.put_state(OutMessage("budget", b"v1", retain=True, qos=1, send_by_s=1.0))
    queue.put_state(state("site", b"s1"))
    assert [m.payload for m in await drain(queue)] == [b"v1", b"s1"]
    queue.put_state(OutMessage("budget", b"v2", retain=True, qos=1, send_by_s=2.0))
    now[0] = 2.0  # the link was down until now: v2 is not worth sending any more
    queue.replay_states()  # nor is v1, the last sent
    assert [m.payload for m in await drain(queue)] == [b"s1"]
    queue.put_state(OutMessage("budget", b"v3", retain=True, qos=1, send_by_s=3.0))
    failed = await queue.get()
    now[0] = 3.0
    queue.retry(failed)  # its publish failed: too late to send it again
    assert not queue.pending()
