"""What the daemon sends on one serial bus, replayed on a virtual clock. Pure.

The daemon's traffic is not "one read per device per interval". Every connector has a status
poller, which reads the charger's meter too whenever the meter is due (``Poll.carried``); it
waits its interval *after* its poll has ended, so a slow line stretches its own period. The
grid meter's reads and every write jump the queue; other reads take turns by device. A
connector's setpoint is written again at the first control step after a third of its failsafe
timeout (steps follow the grid readings), and each write makes the connector's poller poll at
once. Rather than approximate all that, the
rules are replayed here with the bus's own queue and gap rule for a few virtual minutes; the
requests and the line time are counted as they happen, queueing included.

The replay assumes every connector charging (a setpoint above zero written cyclically), the
busiest steady state; start-up writes and session-start reads are one-off and left out.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.bus import LineTiming, gap_deadline
from edge_controller.drivers.modbus.scheduler import QueueFull, RequestQueue

WARM_UP_S = 10.0
REPLAY_S = 120.0


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its reply, as PDU sizes; ``function`` is the Modbus function code."""

    function: int
    request_pdu_bytes: int
    reply_pdu_bytes: int


@dataclass(frozen=True, slots=True)
class Poll:
    """One poller: its reads, one after the other, then ``interval_s`` of waiting."""

    name: str
    device_id: str
    exchanges: tuple[Exchange, ...]
    interval_s: float
    urgent: bool = False  # the grid meter's reads jump the queue
    grid: bool = False  # each reading wakes the control loop
    # A meter read with the status: every ``carried_every``-th poll (the first included)
    # sends ``carried`` instead of ``exchanges``.
    carried: tuple[Exchange, ...] = ()
    carried_every: int = 1


@dataclass(frozen=True, slots=True)
class Setpoint:
    """A connector's cyclic setpoint write and the pollers each write refreshes."""

    device_id: str
    exchanges: tuple[Exchange, ...]
    every_s: float  # rewritten at the first control step this long after the last write
    refreshes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Line:
    baud: int
    framing: str = "rtu"
    turnaround_s: float = 0.0
    gap_s: float = 0.0  # the bus's own min_gap_s
    device_gaps_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Loop:
    """When the control loop steps: on each grid reading, else every ``tick_s``.
    ``grid_every_s``: the period of grid readings coming from another bus (None: none)."""

    tick_s: float = 1.0
    grid_every_s: float | None = None


@dataclass(slots=True)
class Traffic:
    """What went over the line in ``seconds`` of steady state."""

    seconds: float
    requests: dict[str, Counter[int]] = field(default_factory=dict)  # device → function → n
    polls: Counter[str] = field(default_factory=Counter)  # poll name → polls finished
    busy_s: float = 0.0  # the bus held: waiting out gaps, frames, turnarounds

    def requests_per_s(self, device_id: str, function: int | None = None) -> float:
        counts = self.requests.get(device_id, Counter())
        total = counts[function] if function is not None else sum(counts.values())
        return total / self.seconds

    def period_s(self, poll: str) -> float | None:
        """Mean time between two polls of a poller (None: it never finished one)."""
        done = self.polls[poll]
        return self.seconds / done if done else None

    @property
    def load(self) -> float:
        """Share of the time the bus is held."""
        return self.busy_s / self.seconds


@dataclass(slots=True)
class _Job:
    device_id: str
    exchange: Exchange
    done: Callable[[], None]


@dataclass(slots=True)
class _Poller:
    poll: Poll
    polling: bool = False
    token: int = 0  # a scheduled poll is void once the token moved on (a refresh came first)
    started: int = 0  # polls begun


class _Replay:
    def __init__(self, line: Line, loop: Loop, warm_up_s: float, seconds: float) -> None:
        self.line, self.loop = line, loop
        self.timing = LineTiming(line.baud, line.gap_s, line.turnaround_s)
        self.start_s, self.end_s = warm_up_s, warm_up_s + seconds
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.queue: RequestQueue[_Job] = RequestQueue()
        self.bus_busy = False
        self.bus_last_s = float("-inf")
        self.device_last_s: dict[str, float] = {}
        self.traffic = Traffic(seconds)
        self.pollers: dict[str, _Poller] = {}
        self.setpoints: list[tuple[Setpoint, list[float]]] = []  # with its last write time
        self.stepping = self.step_pending = False
        self.tick_token = 0

    # -- the event loop --------------------------------------------------------------------
    def at(self, when_s: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when_s, next(self._order), action))

    def run(self) -> Traffic:
        while self._events:
            when_s, _, action = heapq.heappop(self._events)
            if when_s > self.end_s:
                break
            self.now = when_s
            action()
        return self.traffic

    # -- the bus ---------------------------------------------------------------------------
    def submit(self, job: _Job, urgent: bool) -> bool:
        try:
            self.queue.put(job.device_id, job, urgent)
        except QueueFull:
            return False  # the daemon refuses it at once; the poller tries next interval
        self._serve()
        return True

    def _serve(self) -> None:
        if self.bus_busy:
            return
        job = self.queue.pop()
        if job is None:
            return
        self.bus_busy = True
        device_gap_s = self.line.device_gaps_s.get(job.device_id, 0.0)
        device_last_s = self.device_last_s.get(job.device_id, float("-inf"))
        deadline_s = gap_deadline(self.timing, device_gap_s, self.bus_last_s, device_last_s)
        sent_s = max(self.now, deadline_s)
        request_chars = wiretime.frame_chars(job.exchange.request_pdu_bytes, self._framing)
        reply_chars = wiretime.frame_chars(job.exchange.reply_pdu_bytes, self._framing)
        end_s = sent_s + wiretime.exchange_s(
            self.line.baud,
            request_chars,
            reply_chars,
            turnaround_s=self.line.turnaround_s,
            framing=self.line.framing,
        )
        self.traffic.busy_s += max(0.0, min(end_s, self.end_s) - max(self.now, self.start_s))
        if self.start_s <= sent_s < self.end_s:
            counts = self.traffic.requests.setdefault(job.device_id, Counter())
            counts[job.exchange.function] += 1
        self.at(end_s, lambda: self._finish(job))

    @property
    def _framing(self) -> Literal["rtu", "ascii"]:
        return "ascii" if self.line.framing == "ascii" else "rtu"

    def _finish(self, job: _Job) -> None:
        self.bus_busy = False
        self.bus_last_s = self.device_last_s[job.device_id] = self.now
        job.done()
        self._serve()

    def chain(
        self, device_id: str, exchanges: Sequence[Exchange], urgent: bool, done: Callable[[], None]
    ) -> None:
        """Run exchanges one after the other (as a driver awaits each), then ``done``."""
        if not exchanges:
            done()
            return
        first, rest = exchanges[0], exchanges[1:]
        job = _Job(device_id, first, lambda: self.chain(device_id, rest, urgent, done))
        if not self.submit(job, urgent):
            done()

    # -- pollers ---------------------------------------------------------------------------
    def start_poll(self, poller: _Poller, token: int) -> None:
        if token != poller.token or poller.polling:
            return
        poller.polling = True
        poll = poller.poll
        exchanges = poll.exchanges
        if poll.carried and poller.started % poll.carried_every == 0:
            exchanges = poll.carried
        poller.started += 1
        self.chain(poll.device_id, exchanges, poll.urgent, lambda: self._polled(poller))

    def _polled(self, poller: _Poller) -> None:
        poller.polling = False
        if self.start_s <= self.now < self.end_s:
            self.traffic.polls[poller.poll.name] += 1
        poller.token += 1
        token = poller.token
        self.at(self.now + poller.poll.interval_s, lambda: self.start_poll(poller, token))
        if poller.poll.grid:
            self.grid_reading()

    def refresh(self, name: str) -> None:
        """Poll now if waiting; a refresh during a poll is lost (the poller clears it after)."""
        poller = self.pollers.get(name)
        if poller is not None and not poller.polling:
            poller.token += 1
            self.start_poll(poller, poller.token)

    # -- the control loop ------------------------------------------------------------------
    def grid_reading(self) -> None:
        if self.stepping:
            self.step_pending = True
        else:
            self.step()

    def _tick(self, token: int) -> None:
        if token == self.tick_token and not self.stepping:
            self.step()

    def _remote_grid(self) -> None:
        assert self.loop.grid_every_s is not None
        self.grid_reading()
        self.at(self.now + self.loop.grid_every_s, self._remote_grid)

    def step(self) -> None:
        self.stepping, self.step_pending = True, False
        self.tick_token += 1
        due = [(sp, last) for sp, last in self.setpoints if self.now - last[0] >= sp.every_s]
        waiting = [len(due)]
        if not due:
            self._stepped()
        for setpoint, last in due:
            written = partial(self._written, setpoint, last, waiting)
            self.chain(setpoint.device_id, setpoint.exchanges, True, written)

    def _written(self, setpoint: Setpoint, last: list[float], waiting: list[int]) -> None:
        last[0] = self.now
        for name in setpoint.refreshes:
            self.refresh(name)
        waiting[0] -= 1
        if waiting[0] == 0:
            self._stepped()

    def _stepped(self) -> None:
        self.stepping = False
        if self.step_pending:
            self.at(self.now, self.step)
            return
        token = self.tick_token
        self.at(self.now + self.loop.tick_s, lambda: self._tick(token))


def replay(
    line: Line,
    polls: Sequence[Poll],
    setpoints: Sequence[Setpoint],
    loop: Loop,
    *,
    warm_up_s: float = WARM_UP_S,
    seconds: float = REPLAY_S,
) -> Traffic:
    """Requests, polls and line time of ``seconds`` of steady state after ``warm_up_s``."""
    run = _Replay(line, loop, warm_up_s, seconds)
    for poll in polls:
        poller = run.pollers[poll.name] = _Poller(poll)
        run.at(0.0, partial(run.start_poll, poller, 0))
    run.setpoints = [(setpoint, [float("-inf")]) for setpoint in setpoints]
    run.at(0.0, run.step)
    if loop.grid_every_s is not None:
        run.at(loop.grid_every_s, run._remote_grid)
    return run.run()
