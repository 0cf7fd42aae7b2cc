"""A device's errors as its driver counts them: a count per kind since the start and the newest
events, for the status surfaces (a Modbus unit's, a card reader's). Times are arguments: each
driver stamps its events with its own wall clock."""

from __future__ import annotations

from collections import deque

from edge_controller.domain.snapshot import ErrorEvent

ERROR_HISTORY = 50  # error events kept per device (the counts keep counting past them)


class DeviceErrors:
    __slots__ = ("_counts", "_recent")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        # Oldest first; made at the first error: an empty deque is some 600 bytes, and most of
        # a large site's thousand devices never fail.
        self._recent: deque[ErrorEvent] | None = None

    def record(self, at_s: float, kind: str, message: str) -> None:
        """Count an error under ``kind`` and keep it in the history."""
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if self._recent is None:
            self._recent = deque(maxlen=ERROR_HISTORY)
        self._recent.append(ErrorEvent(at_s, kind, message))

    def counts(self) -> dict[str, int]:
        """Errors by kind since the start (``DeviceView.errors``): a copy."""
        return dict(self._counts)

    def history(self) -> tuple[ErrorEvent, ...]:
        """The last ``ERROR_HISTORY`` error events, newest first."""
        return tuple(reversed(self._recent)) if self._recent is not None else ()
