"""The security log: every security event an identity raised, kept on the gateway in a bounded
file and uploaded when a CSMS asks for it (OCPP 2.x GetLog, logType SecurityLog).

One JSON object a line (``at_s``, ``timestamp``, ``type``, ``techInfo``), appended when the
event is raised, before it is sent. The file is rotated when the next line would pass
``max_bytes``: ``<name>.1`` is the one before, up to ``<name>.<keep>``, and the oldest is
deleted, so the log never holds more than ``(keep + 1) * max_bytes``. A line torn by a power
loss is skipped when read, and the next one starts on a line of its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge_controller.domain.security import SecurityEventRaised
from edge_controller.log import get_logger
from edge_controller.textpath import TextPath
from edge_controller.uplink.clock import to_iso

MAX_BYTES = 128 * 1024
KEEP = 2  # rotated files beside the current one
log = get_logger("uplink.security_log")


def _torn(file: BinaryIO) -> bool:
    """Whether the last line was cut short (a power loss): the next starts on a line of its own."""
    size = file.seek(0, os.SEEK_END)
    if size == 0:
        return False
    file.seek(size - 1)
    return file.read(1) != b"\n"


@dataclass(frozen=True, slots=True)
class Window:
    """GetLog's oldestTimestamp and latestTimestamp (None: open on that side)."""

    oldest_s: float | None = None
    latest_s: float | None = None

    def holds(self, at_s: float) -> bool:
        after = self.oldest_s is None or at_s >= self.oldest_s
        return after and (self.latest_s is None or at_s <= self.latest_s)


class SecurityLog:
    path = TextPath()  # kept as text

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep

    def append(self, event: SecurityEventRaised) -> None:
        """Keep ``event``; a failing disk is logged, never raised (the event still goes out)."""
        entry = {"at_s": event.at_s, "timestamp": to_iso(event.at_s), "type": event.kind.value,
                 "techInfo": event.tech_info}  # fmt: skip
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._size() + len(line) > self.max_bytes:
                self._rotate()
            with self.path.open("ab+") as file:
                file.write(b"\n" + line if _torn(file) else line)
        except OSError as exc:
            log.error("security event not written to the security log", error=str(exc))

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _rotated(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    def _rotate(self) -> None:
        self._rotated(self.keep).unlink(missing_ok=True)
        for number in range(self.keep - 1, 0, -1):
            if self._rotated(number).exists():
                self._rotated(number).replace(self._rotated(number + 1))
        self.path.replace(self._rotated(1))

    def files(self) -> list[Path]:
        """The log's files, oldest first."""
        found = [self._rotated(n) for n in range(self.keep, 0, -1)] + [self.path]
        return [path for path in found if path.exists()]

    def entries(self, window: Window = Window()) -> Iterator[dict[str, object]]:
        """The entries within ``window``, oldest first."""
        for path in self.files():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for line in data.splitlines():
                try:
                    entry = json.loads(line)
                    at_s = float(entry["at_s"])
                except (ValueError, KeyError, TypeError):
                    continue  # torn by a power loss
                if window.holds(at_s):
                    yield entry

    def text(self, window: Window = Window()) -> bytes:
        """The entries within ``window`` as the uploaded file: one JSON object a line."""
        lines = (json.dumps(e, separators=(",", ":")) + "\n" for e in self.entries(window))
        return "".join(lines).encode()
