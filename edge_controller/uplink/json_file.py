"""One JSON state file written whole or not at all (a power cut mid-write keeps the old one).

``JsonFileWriter`` writes it off the event loop: an fsync takes milliseconds, and a setting a
CSMS changes on a thousand identities (or once for all of them) held the loop for seconds."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from edge_controller.log import get_logger

log = get_logger("uplink.state")


def write_json_atomically(path: Path, data: Any, *, readable: bool = True) -> None:
    """Write ``data`` to a temporary file, flush it to disk, then rename it over ``path``.

    ``readable``: indented with sorted keys, for files an installer may open.
    """
    _write_text(path, _dumps(data, readable))


def _dumps(data: Any, readable: bool) -> str:
    if readable:
        return json.dumps(data, indent=1, sort_keys=True)
    return json.dumps(data)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    with temp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


class JsonFileWriter:
    """Keeps one file written as ``write_json_atomically`` does, from a worker thread when an
    event loop runs (at once otherwise). The content is taken when ``write`` is called; one
    write at a time, in order, and of several asked for meanwhile only the newest is written.
    ``written`` waits until everything asked for so far is on disk (what an answer to the CSMS
    waits for)."""

    __slots__ = ("_error", "_newest", "_writing", "path", "readable")

    def __init__(self, path: Path, *, readable: bool = True) -> None:
        self.path, self.readable = path, readable
        self._newest: str | None = None  # asked for while a write was under way
        self._writing: asyncio.Future[None] | None = None
        self._error: OSError | None = None  # of the newest write, until it is told

    def write(self, data: Any) -> None:
        text = _dumps(data, self.readable)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _write_text(self.path, text)
            return
        self._newest = text
        if self._writing is None:
            self._next(loop)

    async def written(self) -> None:
        """Returns once every content asked for is on disk; raises the OSError of the last
        write when it failed (told once)."""
        while self._writing is not None:
            await asyncio.wait((self._writing,))
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        text, self._newest = self._newest, None
        if text is None:
            self._writing = None
            return
        try:
            self._writing = loop.run_in_executor(None, _write_text, self.path, text)
        except RuntimeError:  # the loop is shutting its workers down: written here instead
            self._writing = None
            self._write_here(text)
            return
        self._writing.add_done_callback(self._done)

    def _write_here(self, text: str) -> None:
        try:
            _write_text(self.path, text)
            self._error = None
        except OSError as exc:
            self._failed(exc)

    def _done(self, future: asyncio.Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        if isinstance(error, OSError):
            self._failed(error)
        elif error is not None:
            log.error("state file not written", path=str(self.path), error=repr(error))
        else:
            self._error = None
        self._next(future.get_loop())

    def _failed(self, error: OSError) -> None:
        self._error = error
        log.error("state file not written", path=str(self.path), error=str(error))
