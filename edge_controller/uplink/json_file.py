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
    waits for); it fails only for what was asked for after the mark it is given, so a change
    nobody answers for (a profile that ended) never fails the next, unrelated answer."""

    __slots__ = ("_asked", "_error", "_newest", "_writing", "path", "readable")

    def __init__(self, path: Path, *, readable: bool = True) -> None:
        self.path, self.readable = path, readable
        self._newest: str | None = None  # asked for while a write was under way
        self._writing: asyncio.Future[None] | None = None
        self._asked = 0  # writes asked for so far
        # Of the newest finished write: each is the whole content, so when it failed, every
        # change since the last one written is not on disk.
        self._error: Exception | None = None

    def asked(self) -> int:
        """How many writes were asked for so far: the mark to give ``written``."""
        return self._asked

    def write(self, data: Any) -> None:
        text = _dumps(data, self.readable)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _write_text(self.path, text)
            return
        self._asked += 1
        self._newest = text
        if self._writing is None:
            self._next(loop)

    async def written(self, since: int = 0) -> None:
        """Returns once every content asked for is on disk; raises the error of the newest
        write when it failed and a write was asked for after ``since`` (a mark from
        ``asked``): what was asked for before it, and failed, was logged then."""
        while self._writing is not None:
            await asyncio.wait((self._writing,))
        if self._error is not None and self._asked > since:
            raise self._error

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
        except Exception as exc:  # any failure: kept for ``written`` and logged
            self._failed(exc)

    def _done(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self._failed(RuntimeError("state file write cancelled"))
        elif (error := future.exception()) is not None:
            self._failed(error if isinstance(error, Exception) else RuntimeError(repr(error)))
        else:
            self._error = None
        self._next(future.get_loop())

    def _failed(self, error: Exception) -> None:
        """Logged whether or not an answer waits for it: a change nobody answers for (a
        profile that ended, a message that expired) is not on disk either."""
        self._error = error
        log.error(
            "state file not written, the changes since the last write are not on disk",
            path=str(self.path),
            error=repr(error),
        )
