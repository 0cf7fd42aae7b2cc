"""A wake-up signal with a timeout that never swallows a cancellation.

Python 3.11's ``asyncio.timeout``/``wait_for`` can turn a cancellation that races with the
timeout into a TimeoutError; a plain future resolved by ``call_later`` cannot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection


class Wakeup:
    """Waited for (``wait``), or told to a listener as it is set (``listen``: the outbox
    sender, which keeps no task waiting while its line is empty)."""

    __slots__ = ("_listener", "_pending", "_waiter")

    def __init__(self) -> None:
        self._waiter: asyncio.Future[bool] | None = None
        self._pending = False
        self._listener: Callable[[], None] | None = None

    def set(self) -> None:
        self._pending = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)
        if self._listener is not None:
            self._listener()

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` at each ``set`` from now on (None: no longer). It must not
        raise: ``set`` is called after the outbox's commits."""
        self._listener = listener

    @property
    def pending(self) -> bool:
        """Set since it was last waited for or taken."""
        return self._pending

    def take(self) -> bool:
        """Whether it was set since it was last waited for or taken; no longer after this."""
        pending, self._pending = self._pending, False
        return pending

    async def wait(self, timeout_s: float | None) -> bool:
        """True when woken (or a wake-up was pending), False after ``timeout_s`` (None: only
        when woken)."""
        if self._pending:
            self._pending = False
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = None if timeout_s is None else loop.call_later(timeout_s, _expire, waiter)
        try:
            woken = await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None
        self._pending = False
        return woken


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class OutboxWakeup:
    """The outbox wake-up channel: the outbox sets it after each commit that put messages in
    line (``set_many``, from ``Outbox.on_queued``), and every identity's sender is told
    through its own ``Wakeup`` from ``subscribe`` (it listens, and starts a drain then), with
    no poll of its line. Created before both, so neither needs the other.

    A session's messages wake only their identity's sender: with an identity per charger,
    waking every sender for each sample would cost a database read per identity per message."""

    def __init__(self) -> None:
        self._subscribers: dict[str | None, list[Wakeup]] = {}

    def subscribe(self, identity: str | None = None) -> Wakeup:
        """The wake-up of ``identity``'s sender (None: woken for every identity's messages)."""
        wakeup = Wakeup()
        self._subscribers.setdefault(identity, []).append(wakeup)
        return wakeup

    def set(self, identity: str | None = None) -> None:
        """Messages of ``identity`` were committed (None: of any, or of several)."""
        if identity is None:
            woken = [w for found in self._subscribers.values() for w in found]
        else:
            woken = self._subscribers.get(identity, []) + self._subscribers.get(None, [])
        for wakeup in woken:
            wakeup.set()

    def set_many(self, identities: Collection[str]) -> None:
        """Messages of each of ``identities`` were committed."""
        for identity in identities:
            self.set(identity)


class Flag:
    """An ``asyncio.Event`` for the few that wait on it rarely: the event keeps a deque of
    waiters from the start (760 bytes; a sender has two at each of a thousand identities),
    this makes a future only while someone waits."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        """Return once set (also when cleared again before this wakes, as an Event)."""
        if self._set:
            return
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        # Shielded: one waiter cancelled must not cancel the future the others wait on.
        await asyncio.shield(self._waiter)
