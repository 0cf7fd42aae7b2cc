"""Per-client rate limits (pure: time is an argument). A fixed number of events per window per
client key, with a bounded number of keys: the least recently seen key is forgotten first, so a
flood of addresses costs bounded memory."""

from __future__ import annotations

from collections import OrderedDict, deque


class RateLimit:
    def __init__(self, events: int, window_s: float, max_keys: int = 10_000) -> None:
        self._events, self._window_s, self._max_keys = events, window_s, max_keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now_s: float) -> bool:
        """Count one event for ``key`` at ``now_s``; False if it is over the limit."""
        times = self._seen.pop(key, None) or deque()
        while times and times[0] <= now_s - self._window_s:
            times.popleft()
        allowed = len(times) < self._events
        if allowed:
            times.append(now_s)
        self._seen[key] = times
        while len(self._seen) > self._max_keys:
            self._seen.popitem(last=False)
        return allowed


class WrongCodes:
    """Wrong key codes per connector: after ``allowed`` wrong ones within ``window_s`` the
    connector takes no code for ``lockout_s`` (a right code clears the count). Pure: time is
    an argument."""

    def __init__(self, allowed: int, window_s: float, lockout_s: float) -> None:
        self._allowed, self._window_s, self._lockout_s = allowed, window_s, lockout_s
        self._wrong: dict[str, deque[float]] = {}
        self._locked_until_s: dict[str, float] = {}

    def locked_for_s(self, connector_id: str, now_s: float) -> float:
        """How long ``connector_id`` still takes no code (0: it takes one now)."""
        return max(0.0, self._locked_until_s.get(connector_id, 0.0) - now_s)

    def wrong(self, connector_id: str, now_s: float) -> bool:
        """Count a wrong code; True if the connector is locked out from now on."""
        times = self._wrong.setdefault(connector_id, deque())
        while times and times[0] <= now_s - self._window_s:
            times.popleft()
        times.append(now_s)
        if len(times) < self._allowed:
            return False
        times.clear()
        self._locked_until_s[connector_id] = now_s + self._lockout_s
        return True

    def right(self, connector_id: str) -> None:
        self._wrong.pop(connector_id, None)
