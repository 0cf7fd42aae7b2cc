"""When an identity was online, kept on disk: what decides a TransactionEvent's ``offline``.

An event is offline when it happened outside every period the identity's connection was up.
The periods are written before anything is sent on a new connection, so an event renders the
same at every attempt, also after a crash or a reconnect: a CALL in flight at a crash goes out
again byte for byte. A period a crash left open ends when the next process starts (nothing
happens on the site while no process runs). The oldest periods are dropped beyond ``KEPT``; an
event older than every period kept counts as offline.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_controller.textpath import OptionalTextPath
from edge_controller.uplink.json_file import write_json_atomically

KEPT = 1000


class OnlinePeriods:
    path = OptionalTextPath()  # kept as text

    def __init__(self, path: Path | None, started_s: float) -> None:
        """``started_s``: when this process started (it ends a period a crash left open).
        ``path`` None: kept in memory only."""
        self.path = path
        self._periods: list[list[float | None]] = self._load()
        if self._periods and self._periods[-1][1] is None:
            self._periods[-1][1] = started_s
            self._save()

    def _load(self) -> list[list[float | None]]:
        if self.path is None:
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            return []  # unreadable: every earlier event counts as offline
        return [[float(a), None if b is None else float(b)] for a, b in data]

    def _save(self) -> None:
        if self.path is None:
            return
        write_json_atomically(self.path, self._periods[-KEPT:], readable=False)

    def up(self, at_s: float) -> None:
        """The connection is up from ``at_s`` (before anything is sent on it)."""
        self._periods = [*self._periods[-(KEPT - 1) :], [at_s, None]]
        self._save()

    def down(self, at_s: float) -> None:
        if self._periods and self._periods[-1][1] is None:
            self._periods[-1][1] = at_s
            self._save()

    def offline(self, at_s: float) -> bool:
        """Whether the identity was offline at ``at_s``."""
        for start_s, end_s in self._periods:
            assert start_s is not None
            if start_s <= at_s and (end_s is None or at_s < end_s):
                return False
        return True
