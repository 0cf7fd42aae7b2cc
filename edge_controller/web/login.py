"""Console logins (time is an argument): sessions in memory and the lock-out after repeated
failures. A daemon restart ends every session, which is what an operator expects."""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass

MAX_FAILURES = 5  # within WINDOW_S, per user name and per client address
WINDOW_S = 900.0
LOCKED_S = 900.0
SESSION_S = 8 * 3600.0
MAX_SESSIONS = 100  # the oldest is ended beyond
_MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    user: str
    role: str  # "viewer" or "operator"
    csrf: str
    expires_s: float

    @property
    def may_change(self) -> bool:
        return self.role == "operator"


class Lockout:
    """After MAX_FAILURES failed logins within WINDOW_S for a key (a user name, a client
    address), that key is locked for LOCKED_S, even with the right password."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked_until: dict[str, float] = {}

    def locked(self, key: str, now_s: float) -> bool:
        until = self._locked_until.get(key)
        if until is not None and now_s >= until:
            del self._locked_until[key]
            return False
        return until is not None

    def failed(self, key: str, now_s: float) -> None:
        times = self._failures.pop(key, None) or deque()
        while times and times[0] <= now_s - WINDOW_S:
            times.popleft()
        times.append(now_s)
        if len(times) >= MAX_FAILURES:
            self._locked_until[key] = now_s + LOCKED_S
            times.clear()
        self._failures[key] = times
        while len(self._failures) > _MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


class SessionBook:
    def __init__(self) -> None:
        self._sessions: OrderedDict[str, ConsoleSession] = OrderedDict()

    def open(self, user: str, role: str, now_s: float) -> tuple[str, ConsoleSession]:
        sid = secrets.token_urlsafe(32)
        session = ConsoleSession(user, role, secrets.token_urlsafe(24), now_s + SESSION_S)
        self._sessions[sid] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return sid, session

    def get(self, sid: str | None, now_s: float) -> ConsoleSession | None:
        session = self._sessions.get(sid) if sid else None
        if session is not None and now_s >= session.expires_s:
            del self._sessions[str(sid)]
            return None
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)
