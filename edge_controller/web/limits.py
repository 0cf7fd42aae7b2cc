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
