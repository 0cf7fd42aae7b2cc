"""Timing of the loop's answer to an overload: from the arrival of the grid reading that showed
it to the last lowered setpoint written on the bus.

Only a reading over the grid limit starts a timing, and each reading at most once (the first
step that sees it): lowerings for other reasons (an operator cap, rotation, an EV taking less)
are not an overload reaction, and a later tick must not report the same reading again with the
time it merely waited. The line says where the time went: ``waited_ms`` from the reading's
arrival until the loop's step began (a step already under way finishes first), ``decided_ms``
from then until the first lowered setpoint was sent, the rest in writing; and which write came
last (``last_connector``, its link the longest) and the longest one write took from being asked
for (``slowest_write_ms``): a charger's lowered setpoints go out one after the other on its
link, so the writing is about the longest link's count of them times one transaction.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Sequence
from typing import Any

from edge_controller.domain.balancing import GridReading
from edge_controller.domain.latency import Histogram


class OverloadReaction:
    def __init__(self, clock: Callable[[], float], log: Any) -> None:
        self._clock = clock
        self._log = log
        self._seen_at_s: float | None = None  # arrival of the last overloading reading timed
        self._step_at_s = 0.0  # when the step timing it began
        self._writing_at_s = 0.0  # when that step began to write its lowered setpoints
        self.histogram = Histogram()  # every reaction timed since the start (for /metrics)

    def begin(self, reading: GridReading | None, limit_a: float) -> float | None:
        """The arrival time of ``reading`` when it shows an overload not timed before."""
        if reading is None or reading.at_s == self._seen_at_s:
            return None
        if max(reading.current_a) <= limit_a:
            return None
        self._seen_at_s = reading.at_s
        self._step_at_s = self._writing_at_s = self._clock()
        return reading.at_s

    def writing(self, reading_at_s: float | None) -> None:
        """The step timing ``reading_at_s`` has decided and begins to write."""
        if reading_at_s is not None:
            self._writing_at_s = self._clock()

    def lowered(
        self, reading_at_s: float | None, writes: Sequence[tuple[str, float, float]]
    ) -> None:
        """The lowered setpoints ``writes`` (connector, asked and done on the clock) were
        written in answer to the reading."""
        if reading_at_s is None or not writes:
            return
        last_connector, _, _ = max(writes, key=lambda write: write[2])
        slowest_s = max(done_s - asked_s for _, asked_s, done_s in writes)
        reaction_ms = (self._clock() - reading_at_s) * 1000
        waited_ms = (self._step_at_s - reading_at_s) * 1000
        decided_ms = (self._writing_at_s - self._step_at_s) * 1000
        self.histogram.observe(reaction_ms / 1000)
        self._log.info(
            "setpoints lowered",
            connectors=len(writes),
            reaction_ms=round(reaction_ms, 1),
            waited_ms=round(waited_ms, 1),
            decided_ms=round(decided_ms, 1),
            last_connector=last_connector,
            slowest_write_ms=round(slowest_s * 1000, 1),
        )


class CollectionHold:
    """The collector's automatic runs held off while an overload is answered: from the reading
    that showed it until its lowered setpoints are written. At 1,000 connectors a young
    collection took 30-70 ms of CPU (100-300 ms of wall time on a busy host) about every two
    seconds, and one landing in that window delayed every write after it; the objects made
    meanwhile are collected by the first run after the release. ``max_s`` bounds a hold
    whose answer never comes (a step that never ends)."""

    def __init__(self, max_s: float) -> None:
        self.held = False
        self._max_s = max_s
        self._expiry: asyncio.TimerHandle | None = None

    def hold(self) -> None:
        if self.held or not gc.isenabled():  # disabled by someone else: theirs to enable
            return
        gc.disable()
        self.held = True
        self._expiry = asyncio.get_running_loop().call_later(self._max_s, self.release)

    def release(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self.held:
            self.held = False
            gc.enable()


class ReadHold:
    """The chargers' reads held (``gate`` cleared: no new read begins, one under way ends) from
    a grid reading over a limit until its lowered setpoints are written. Held only while those
    were written, each link's first lowered setpoint waited behind a read begun while the step
    decided (at 1,000 connectors nearly every one of them); held from the reading, a link's
    read under way ends while the step decides and its writes find it free. ``max_s`` bounds
    a hold whose answer never comes; a step that writes again holds again, and a status read
    after the interval, the hold and its own timeout (1 + 2.5 + 3 s) would be past its
    staleness limit (5 s), so each poller also stops waiting when its latest value would
    otherwise go stale before its read could answer (``Poller._wait_for_gate``)."""

    def __init__(self, gate: asyncio.Event, max_s: float) -> None:
        self._gate = gate
        self._max_s = max_s
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def held(self) -> bool:
        return not self._gate.is_set()

    def hold(self) -> None:
        if self.held:
            return
        self._gate.clear()
        self._expiry = asyncio.get_running_loop().call_later(self._max_s, self.release)

    def release(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._gate.set()
