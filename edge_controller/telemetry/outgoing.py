"""The bounded outgoing queue between the sync publish calls and the network task.

Overflow policy:
- state (retained) topics: the latest payload per topic wins; a pending older one is replaced
  where it waits, so every topic is sent in turn however many change.
  The number of distinct state topics is capped (``max_state_topics``); a new topic beyond the
  cap is refused and counted each time, and logged once per topic (a refused topic is tried
  again at every publish: a line each time would flood the log).
- events (session events, command responses): kept in order up to ``max_events`` messages and
  ``max_bytes`` bytes; beyond that the OLDEST is dropped, counted and logged.
The last published payload of every state topic is kept, so a reconnect republishes the latest
state (a broker restarted without persistence has lost its retained messages).
A state message may say until when it is worth sending (``send_by_s``, monotonic): after that
it is dropped, whether it waits in the queue, is put back after a failed publish, or would be
replayed (a gateway's budget queued while the broker was down would reach its child about to
expire).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 0
    correlation_data: bytes | None = None
    send_by_s: float | None = None  # monotonic; None: worth sending whenever

    def stale(self, now_s: float) -> bool:
        return self.send_by_s is not None and now_s >= self.send_by_s


@dataclass(frozen=True, slots=True)
class QueueStats:
    pending_states: int
    pending_events: int
    pending_bytes: int
    state_topics: int
    dropped_events: int
    refused_topics: int


class OutgoingQueue:
    def __init__(
        self,
        *,
        max_events: int,
        max_bytes: int,
        max_state_topics: int,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._max_topics = max_state_topics
        self._log = log
        self._states: dict[str, OutMessage] = {}
        self._published: dict[str, OutMessage] = {}
        self._events: deque[OutMessage] = deque()
        self._event_bytes = 0
        self._state_bytes = 0
        self._dropped_events = 0
        self._refused_topics = 0
        self._refused_logged: set[str] = set()  # bounded: at most max_state_topics names
        self._dropping = False
        self._wakeup = asyncio.Event()
        self._clock = clock
        self._deadlined: set[str] = set()  # state topics whose pending or last message has one

    def put_state(self, msg: OutMessage) -> None:
        """Queue a retained state message; replaces a pending one of the same topic in its place
        in line (moving it to the back would starve the topics behind it whenever more topics
        change each tick than the link sends: they would be passed over at every tick)."""
        old = self._states.get(msg.topic)
        is_new = old is None and msg.topic not in self._published
        if is_new and self._topic_count() >= self._max_topics:
            self._refuse(msg.topic)
            return
        self._state_bytes += len(msg.payload) - (len(old.payload) if old else 0)
        self._states[msg.topic] = msg
        if msg.send_by_s is not None:
            self._deadlined.add(msg.topic)
        self._wakeup.set()

    def _refuse(self, topic: str) -> None:
        self._refused_topics += 1
        if topic in self._refused_logged or len(self._refused_logged) >= self._max_topics:
            return
        self._refused_logged.add(topic)
        self._log.warning("mqtt_state_topic_refused", topic=topic, cap=self._max_topics)

    def put_event(self, msg: OutMessage) -> None:
        """Queue an event; drops the oldest events while over the count or byte bound."""
        self._events.append(msg)
        self._event_bytes += len(msg.payload)
        while len(self._events) > self._max_events or self._event_bytes > self._max_bytes:
            self._drop_oldest_event()
        self._wakeup.set()

    def _drop_oldest_event(self) -> None:
        dropped = self._events.popleft()
        self._event_bytes -= len(dropped.payload)
        self._dropped_events += 1
        if not self._dropping:
            self._dropping = True
            self._log.warning(
                "mqtt_events_dropped", topic=dropped.topic, dropped_total=self._dropped_events
            )

    def _topic_count(self) -> int:
        return len(self._published) + sum(1 for t in self._states if t not in self._published)

    def pending(self) -> bool:
        """Whether a message waits to be sent."""
        self._drop_stale()
        return bool(self._events or self._states)

    def _drop_stale(self) -> None:
        """Forget the state messages past their ``send_by_s``, pending or to be replayed."""
        if not self._deadlined:
            return
        now_s = self._clock()
        for topic in list(self._deadlined):
            msg = self._states.get(topic)
            if msg is not None and msg.stale(now_s):
                del self._states[topic]
                self._state_bytes -= len(msg.payload)
                self._log.info("mqtt_stale_message_dropped", topic=topic)
            published = self._published.get(topic)
            if published is not None and published.stale(now_s):
                del self._published[topic]
            if not any(
                m is not None and m.send_by_s is not None
                for m in (self._states.get(topic), self._published.get(topic))
            ):
                self._deadlined.discard(topic)

    async def get(self) -> OutMessage:
        """The next message to send: events first (in order), then state topics."""
        while True:
            msg = self._pop()
            if msg is not None:
                return msg
            self._wakeup.clear()
            await self._wakeup.wait()

    def _pop(self) -> OutMessage | None:
        self._drop_stale()
        if self._events:
            msg = self._events.popleft()
            self._event_bytes -= len(msg.payload)
            if not self._events and self._dropping:
                self._dropping = False
                self._log.info("mqtt_backlog_drained", dropped_total=self._dropped_events)
            return msg
        if self._states:
            topic = next(iter(self._states))
            msg = self._states.pop(topic)
            self._state_bytes -= len(msg.payload)
            return msg
        return None

    def sent(self, msg: OutMessage) -> None:
        """Record a published message (retained ones are replayed after a reconnect)."""
        if msg.retain:
            self._published[msg.topic] = msg

    def retry(self, msg: OutMessage) -> None:
        """Put back a message whose publish failed, unless something newer replaced it."""
        if msg.retain:
            if msg.topic not in self._states and not msg.stale(self._clock()):
                self.put_state(msg)
            return
        self._events.appendleft(msg)
        self._event_bytes += len(msg.payload)
        while len(self._events) > self._max_events or self._event_bytes > self._max_bytes:
            self._drop_oldest_event()
        self._wakeup.set()

    def replay_states(self) -> None:
        """After a (re)connect: queue the last published state of every topic not pending
        (and still worth sending)."""
        self._drop_stale()
        for topic, msg in self._published.items():
            if topic not in self._states:
                self._states[topic] = msg
                self._state_bytes += len(msg.payload)
        if self._states:
            self._wakeup.set()

    def stats(self) -> QueueStats:
        self._drop_stale()
        return QueueStats(
            pending_states=len(self._states),
            pending_events=len(self._events),
            pending_bytes=self._state_bytes + self._event_bytes,
            state_topics=self._topic_count(),
            dropped_events=self._dropped_events,
            refused_topics=self._refused_topics,
        )
