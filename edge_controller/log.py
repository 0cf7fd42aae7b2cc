"""structlog set-up: JSON lines for journald, readable console on a TTY; secrets redacted.

structlog hands every logger the configuration of the moment it is bound, and most loggers are
bound once (at import, or when a service is built). So the configuration never changes after
this module is imported: one processor chain and one output, both of which consult the current
level, renderer and stream. ``configure()`` (at start, again on SIGHUP) only changes those, and
every logger, however early it was bound, follows at once.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import structlog

REDACTED = "***"
_SECRET_KEYS = ("password", "secret", "authorization_key", "auth_key", "private_key", "token_key")
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# structlog's method names → level (exception() logs through error()).
_METHOD_LEVELS = _LEVELS | {"warn": logging.WARNING, "critical": logging.CRITICAL,
                            "fatal": logging.CRITICAL, "exception": logging.ERROR,
                            "msg": logging.INFO}  # fmt: skip


class SecretRedactor:
    """Removes secret values from every event, whatever key or text they hide in."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._clean_item(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._clean(v) for v in value)
        return value

    def _clean_item(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and any(word in key.lower() for word in _SECRET_KEYS):
            return REDACTED if value else value
        return self._clean(value)

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event):
            event[key] = self._clean_item(key, event[key])
        return event


redactor = SecretRedactor()


@dataclass
class _Current:
    """What every logger consults on every line (changed by ``configure``)."""

    level: int = logging.INFO
    renderer: Any = field(default_factory=structlog.processors.JSONRenderer)
    stream: TextIO | None = None  # None: sys.stdout as it is when the line is written
    lock: threading.Lock = field(default_factory=threading.Lock)


_current = _Current()


def _level_filter(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if _METHOD_LEVELS.get(method, logging.INFO) < _current.level:
        raise structlog.DropEvent
    return event


RECENT_LINES = 500
_recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LINES)
_recent_lock = threading.Lock()  # lines come from worker threads too


def _keep(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The last lines written, redacted, for the operator console."""
    with _recent_lock:
        _recent.append(dict(event))
    return event


def recent_lines(limit: int = RECENT_LINES) -> list[dict[str, Any]]:
    """The last ``limit`` lines written (at the level in force then), oldest first, as their
    event dictionaries after redaction: ``timestamp``, ``level``, ``event``, ``component``..."""
    with _recent_lock:
        kept = list(_recent)
    return kept[-limit:] if limit > 0 else []


def _render(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    return _current.renderer(logger, method, event)


class _Output:
    """Writes each rendered line to the current stream (lines from threads are not mixed)."""

    def msg(self, message: str) -> None:
        stream = _current.stream or sys.stdout
        with _current.lock:
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg


_OUTPUT = _Output()


def _output(*args: Any) -> _Output:
    return _OUTPUT  # one for all: it keeps nothing, and every bound logger would keep its own


_PROCESSORS: list[Any] = [
    _level_filter,
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
    redactor,
    _keep,
    _render,
]


def _install() -> None:
    structlog.configure(
        processors=_PROCESSORS,
        # Level filtering is the first processor, so a changed level reaches bound loggers too.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=_output,
        cache_logger_on_first_use=False,
    )


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set the level, format and output of every logger, including those bound before."""
    out = stream or sys.stdout
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    _current.renderer = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    _current.level = _LEVELS[level]
    _current.stream = stream
    _install()  # again, in case something else configured structlog meanwhile


def get_logger(component: str, **ids: Any) -> Any:
    """A logger whose every line names its component and any device/connector ids."""
    return structlog.get_logger().bind(component=component, **ids)


configure()
