"""One poller per device: interval, timeout, latest value, availability, statistics.

Logs once when a device stops answering and once when it recovers. ``refresh()`` asks for an
early poll (after a write). A value older than ``max_age_s`` is not handed out by ``fresh()``:
callers treat that as the worst case. Its times are on the injected (monotonic) clock and stay
inside the daemon; the health of a device as people see it is its bus's view of it.

A poller may ``carry`` another: when the carried one is due, the carrier's poll reads both
values (a charger's status and meter) and the carried one has no loop of its own. Either in one
read (``read_both``, one request where the registers allow): a failed read fails both, neither
takes half of it, and a device that refuses it (a fault) is read apart from then on. Or apart,
one read after the other, each with its own timeout and outcome: a meter that does not answer
leaves the status read standing. A carried value read apart that goes unanswered (a silent
register: each try holds the link until its timeout) is asked for ever more seldom while the
carrier answers, up to once every ``SILENT_BACKOFF_MAX_S``, and the carrier's value is read again
right after each unanswered try: a KEBA whose meter register stopped answering held its link
3.5 s of each 4.6 s poll, and its status aged to 4.6 s against a 5 s staleness limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from edge_controller.domain.latency import SortedWindow
from edge_controller.log import get_logger
from edge_controller.ports import DeviceError, DeviceFault, DeviceUnavailable

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
LATENCY_WINDOW = 200  # successful reads kept for the latency percentiles
# A carried value read apart that went unanswered this many times in a row while its carrier
# answered is asked for after twice the wait of the time before (its interval first), up to
# SILENT_BACKOFF_MAX_S: a silent register holds the link for its whole timeout at every try.
SILENT_BEFORE_BACKOFF = 2
SILENT_BACKOFF_MAX_S = 60.0


@dataclass(frozen=True, slots=True)
class ReadStats:
    """A poller's reads: each from asking until the answer, waiting for the bus included."""

    requests: int
    errors: dict[str, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class _Ride(Generic[T, U]):
    """A poller read along with its carrier, and the read that fetches both values."""

    poller: Poller[U]
    read_both: Callable[[], Awaitable[tuple[T, U]]] | None  # None: read one after the other


class Poller(Generic[T]):
    def __init__(
        self,
        device_id: str,
        read: Callable[[], Awaitable[T]],
        *,
        interval_s: float,
        timeout_s: float,
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_update: Callable[[T], None] | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.device_id = device_id
        self._gate = gate  # while cleared, no new read begins (a read under way ends)
        self._read = read
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_age_s = max_age_s
        self._clock = clock
        self._on_update = on_update
        self._latest: T | None = None
        self._latest_at_s: float | None = None
        self._latest_started_at_s: float | None = None
        self._available = True  # until the first failure: log only a change
        # The future the run loop sleeps on between reads, made only while it sleeps: an
        # asyncio.Event keeps a deque of waiters from the start (780 bytes at each of 2,001
        # pollers at 1,000 connectors).
        self._sleeping: asyncio.Future[None] | None = None
        self._refresh_asked = False  # since the last read ended
        self._requests = 0
        self._errors: Counter[str] = Counter()
        self._latencies_s = SortedWindow(LATENCY_WINDOW)
        self._stats: ReadStats | None = None  # cached until the next read ends
        self._logger: Any = None  # made at the first line logged (see ``_log``)
        self._ride: _Ride[T, Any] | None = None  # a poller read along with this one
        self._carrier: Poller[Any] | None = None  # the poller whose reads carry this one's
        self._ended_at_s: float | None = None  # when the last read ended, answered or not
        self._apart = False  # the device refused a read of both: its two values read apart
        self._silent = 0  # unanswered reads in a row, read apart while its carrier answered
        self._last_error: str | None = None  # the kind of the last read's failure

    @property
    def _log(self) -> Any:
        """Made at its first use: most pollers never log, and a bound logger is about 300
        bytes (2,001 pollers at 1,000 connectors)."""
        if self._logger is None:
            self._logger = get_logger("poller", device=self.device_id)
        return self._logger

    @property
    def latest(self) -> T | None:
        return self._latest

    @property
    def latest_at_s(self) -> float | None:
        """When the latest value arrived (on the injected clock)."""
        return self._latest_at_s

    @property
    def available(self) -> bool:
        return self._available and self._latest is not None

    @property
    def attempted(self) -> bool:
        """A first read has ended, answered or not (until then nothing is known)."""
        return self._latest is not None or bool(self._errors)

    @property
    def latest_started_at_s(self) -> float | None:
        """When the read of the latest value began (its values were taken after this)."""
        return self._latest_started_at_s

    def age_s(self) -> float | None:
        return None if self._latest_at_s is None else self._clock() - self._latest_at_s

    def fresh(self) -> T | None:
        """The latest value if it is at most ``max_age_s`` old, else None. A single missed poll
        does not void it (short bus hiccups are normal); a silence longer than that does."""
        age = self.age_s()
        if age is None or age > self.max_age_s:
            return None
        return self._latest

    def refresh(self) -> None:
        """Poll again now rather than at the next interval (e.g. after a write); during a
        read, the next one still waits for the interval. A carried poller wakes its carrier."""
        self._refresh_asked = True
        if self._carrier is not None:
            self._carrier.refresh()
        _wake(self._sleeping)

    def carry(
        self, rider: Poller[U], read_both: Callable[[], Awaitable[tuple[T, U]]] | None = None
    ) -> None:
        """Read ``rider``'s value in this poller's polls whenever ``rider`` is due: with this
        poller's own in one read (``read_both``), or after it (None); ``rider`` keeps its
        interval, timeout, age and statistics but has no loop of its own."""
        self._ride = _Ride(rider, read_both)
        rider._carrier = self

    @property
    def carried(self) -> bool:
        """Read by another poller's polls (its ``run`` has nothing to do)."""
        return self._carrier is not None

    def _due(self, carrier: Poller[Any]) -> bool:
        """Whether this carried poller is read with the carrier's poll starting now: the
        carrier poll nearest to the end of its interval, or the next one after a refresh."""
        ended_s = self._ended_at_s
        if ended_s is None:
            return True
        wait_s = self.silent_wait_s()
        if self._refresh_asked and wait_s is None:
            return True  # a refresh does not shorten a silent register's wait: it holds the link
        return self._clock() + carrier.interval_s / 2 >= ended_s + (wait_s or self.interval_s)

    def silent_wait_s(self) -> float | None:
        """How long after its last try a value read apart that keeps going unanswered waits
        for the next (None: it is not waiting longer than its interval)."""
        if self._silent < SILENT_BEFORE_BACKOFF:
            return None
        doublings = min(self._silent - SILENT_BEFORE_BACKOFF + 1, 16)
        wait_s: float = self.interval_s * 2.0**doublings
        return min(wait_s, max(SILENT_BACKOFF_MAX_S, self.interval_s))

    async def poll_once(self) -> bool:
        """One read with a timeout; True on success. Device errors are counted, not raised."""
        ride = self._ride
        if ride is not None and ride.poller._due(self):
            return await self._poll_both(ride)
        return await self._poll_alone()

    async def _timed(self, read: Callable[[], Awaitable[V]]) -> V:
        """``read()``, ended with TimeoutError after ``timeout_s`` (as ``asyncio.timeout``
        would), timed by the loop's one ``ReadDeadlines`` timer rather than a timer each."""
        task = asyncio.current_task()
        assert task is not None
        deadlines = _deadlines_of(task.get_loop())
        cancelling = task.cancelling()
        deadlines.begin(task, self.timeout_s)
        expired = False
        try:
            return await read()
        except asyncio.CancelledError:
            expired = deadlines.end(task)
            if expired and task.uncancel() <= cancelling:
                raise TimeoutError(
                    f"{self.device_id}: no answer within {self.timeout_s} s"
                ) from None
            raise
        finally:
            if not expired and deadlines.end(task):
                task.uncancel()  # expired as the answer came: the cancel is not this read's

    async def _poll_alone(self) -> bool:
        self._requests += 1
        started_s, began_at_s = time.perf_counter(), self._clock()
        try:
            value = await self._timed(self._read)
        except (DeviceError, TimeoutError) as exc:
            self._failed(exc)
            return False
        self._succeeded(value, started_s, began_at_s)
        return True

    @property
    def reads_apart(self) -> bool:
        """Its carried value is read after its own, not with it (by wiring or refusal)."""
        return self._ride is not None and (self._apart or self._ride.read_both is None)

    async def _poll_both(self, ride: _Ride[T, Any]) -> bool:
        """Both values in one read; if it fails, both count the failure and neither value
        changes. A device that answers but refuses the pair (a fault) has both values read
        apart at once and from then on: a span it refuses, a register in a hole it does not
        answer, or a meter value it cannot give must not leave the other value unread."""
        read_both = ride.read_both
        if read_both is None or self._apart:
            return await self._poll_apart(ride)
        rider = ride.poller
        rider._refresh_asked = False
        started_s, began_at_s = time.perf_counter(), self._clock()
        try:
            value, carried = await self._timed(read_both)
        except DeviceFault as exc:
            self._apart = True
            self._log.warning("status and meter refused as one read, read apart", detail=str(exc))
            return await self._poll_apart(ride)
        except (DeviceError, TimeoutError) as exc:
            self._requests += 1
            rider._requests += 1
            rider._failed(exc)
            self._failed(exc)
            return False
        self._requests += 1
        rider._requests += 1
        rider._succeeded(carried, started_s, began_at_s)
        self._succeeded(value, started_s, began_at_s)
        return True

    async def _poll_apart(self, ride: _Ride[T, Any]) -> bool:
        """This poller's value, then the carried one's, each with its own timeout and outcome
        (the first is taken before the second is asked for)."""
        ok = await self._poll_alone()
        rider = ride.poller
        rider._refresh_asked = False
        answered = await rider._poll_alone()
        if answered or not ok or rider._last_error not in _SILENT:
            rider._silent_ended(answered)
            return ok
        rider._went_silent()
        # Its own value again: the unanswered read held the link for its whole timeout.
        return await self._poll_alone()

    def _went_silent(self) -> None:
        self._silent += 1
        if self._silent == SILENT_BEFORE_BACKOFF:
            self._log.warning(
                "not answering while its device does: asked ever more seldom",
                max_wait_s=SILENT_BACKOFF_MAX_S,
            )

    def _silent_ended(self, answered: bool) -> None:
        if self._silent >= SILENT_BEFORE_BACKOFF and answered:
            self._log.info("answers again: read at its interval")
        if answered or self._last_error not in _SILENT:
            self._silent = 0

    def _succeeded(self, value: T, started_s: float, began_at_s: float) -> None:
        self._latencies_s.add(time.perf_counter() - started_s)
        self._stats = None
        self._latest, self._latest_at_s = value, self._clock()
        self._latest_started_at_s, self._ended_at_s = began_at_s, self._latest_at_s
        if not self._available:
            self._available = True
            self._log.info("device answers again")
        if self._on_update is not None:
            self._on_update(value)

    def _failed(self, exc: BaseException) -> None:
        kind = self._last_error = type(exc).__name__
        self._errors[kind] += 1
        self._stats = None
        self._ended_at_s = self._clock()
        if self._available:
            self._available = False
            self._log.warning("device not answering", error=kind, detail=str(exc))

    async def run(self) -> None:
        if self._carrier is not None:
            return  # read by its carrier's polls
        loop = asyncio.get_running_loop()
        gate = self._gate
        while True:
            if gate is not None and not gate.is_set():
                await self._wait_for_gate(gate)
            await self.poll_once()
            self._refresh_asked = False
            # A timer that wakes it, not a timeout around the wait: a timeout that expires
            # raises, and a thousand connectors' pollers raised two thousand times a second.
            self._sleeping = sleeping = loop.create_future()
            waking = loop.call_later(self.interval_s, _wake, sleeping)
            try:
                await sleeping
            finally:
                waking.cancel()
                self._sleeping = None

    async def _wait_for_gate(self, gate: asyncio.Event) -> None:
        """Wait while the gate is closed, but begin the read no later than keeps its answer
        within ``max_age_s`` of the latest value's, an answer coming at most ``timeout_s``
        after the read begins: a value that went stale while its read was held would count
        its device as silent (a charger at its maximum) though it answers."""
        latest_at_s = self._latest_at_s
        if latest_at_s is None:  # nothing to keep fresh yet
            await gate.wait()
            return
        wait_s = latest_at_s + self.max_age_s - self.timeout_s - self._clock()
        if wait_s <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await gate.wait()

    def latency_p99_ms(self) -> float | None:
        """``stats().latency_p99_ms`` alone: every connector's view shows it at every control
        step, and each read ends the cache of the whole ``stats()``."""
        window = self._latencies_s
        return window.exclusive_percentile(99) * 1000 if len(window) >= 2 else None

    def stats(self) -> ReadStats:
        if self._stats is None:
            p50_ms = p99_ms = None
            window = self._latencies_s
            if len(window) >= 2:
                p50_ms = window.median() * 1000
                p99_ms = window.exclusive_percentile(99) * 1000
            self._stats = ReadStats(self._requests, dict(self._errors), p50_ms, p99_ms)
        return self._stats


_SILENT = frozenset({DeviceUnavailable.__name__, TimeoutError.__name__})  # no answer came


class ReadDeadlines:
    """The reads under way of every poller on one event loop and when each must end, with one
    timer for them all, set for the earliest deadline: a timeout context around each read was
    a timer each, about 1 % of a core at 1,000 connectors (1,800 reads a second). A read past
    its deadline has its task cancelled, like ``asyncio.timeout`` does. It keeps no reference
    to its loop: the loop is the key it is found under."""

    def __init__(self) -> None:
        self._due: dict[asyncio.Task[Any], float] = {}  # loop time
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def begin(self, task: asyncio.Task[Any], timeout_s: float) -> None:
        at = asyncio.get_running_loop().time() + timeout_s
        self._due[task] = at
        if at < self._timer_at:
            self._arm(at)

    def end(self, task: asyncio.Task[Any]) -> bool:
        """The read of ``task`` is over; True if its deadline cancelled the task (once)."""
        self._due.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = asyncio.get_running_loop().call_at(at, self._expire), at

    def _expire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        now = asyncio.get_running_loop().time()
        late = [task for task, at in self._due.items() if at <= now]
        for task in late:
            del self._due[task]
            self._expired.add(task)
            task.cancel()
        if self._due:
            self._arm(min(self._due.values()))


_DEADLINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadDeadlines] = (
    weakref.WeakKeyDictionary()
)


def _deadlines_of(loop: asyncio.AbstractEventLoop) -> ReadDeadlines:
    found = _DEADLINES.get(loop)
    if found is None:
        found = _DEADLINES[loop] = ReadDeadlines()
    return found


def _wake(sleeping: asyncio.Future[None] | None) -> None:
    if sleeping is not None and not sleeping.done():
        sleeping.set_result(None)
