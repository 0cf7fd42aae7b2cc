"""Acks of one identity made durable against a crash of the process by one small file append.

A sender must make each ack durable before its next CALL. A commit costs a hand-off to the
database thread and several page writes; appending the sequence number to this journal is one
``write()`` into the page cache: durable once it returns, unless the machine loses power, which
is what an outbox commit without an fsync promises too. The outbox marks journaled acks in the
table in batches and before it reads an identity's line from its start again (acks are
idempotent, so marking one twice is harmless). The file lives next to the database and belongs
to it, as its ``-wal`` file does. Acks left by an earlier process only count for rows that were
in the database when this process opened it (by sequence: row dates follow the site's clock,
which may be ahead of or behind the wall clock), and a database created anew removes every
journal left beside it (``remove_journals``): a replaced database never takes another
database's acks for its own. Records still carry when they were written (the layout stays).
"""

from __future__ import annotations

import os
import struct
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

from edge_controller.log import get_logger
from edge_controller.textpath import TextPath

log = get_logger("storage.outbox")
_RECORD = struct.Struct("<qd")  # sequence number, written at (seconds since the epoch)
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT


def journal_path(database: Path, identity: str) -> Path:
    """The journal of ``identity`` (any string: hex keeps it a safe file name)."""
    return database.with_name(f"{database.name}-acks-{identity.encode().hex()}")


def remove_journals(database: Path) -> list[Path]:
    """Delete the ack journals beside ``database`` (it is new: they belong to another one)."""
    removed = []
    for path in database.parent.glob(f"{database.name}-acks-*"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


class AckJournal:
    path = TextPath()  # kept as text

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._closer: weakref.finalize[[int], AckJournal] | None = None
        self.seqs: list[int] = []  # journaled by this process, not marked in the table yet
        # Left by an earlier process (not marked yet), and the bytes of whole records in the
        # file (appends go after those).
        self.recovered, self._size = _read(path)

    def append(self, seqs: Sequence[int]) -> None:
        """Durable against a crash of the process when it returns. On an error (a full disk)
        none of ``seqs`` counts and the file is cut back to its whole records."""
        if not seqs:
            return
        fd = self._fd
        if fd is None:
            fd = self._use(os.open(self.path, _APPEND, 0o600))
            os.ftruncate(fd, self._size)  # a torn record left by a crash would misalign the rest
        self._size = _write(fd, seqs, self._size, str(self.path))
        self.seqs.extend(seqs)

    def settled(self, count: int) -> None:
        """The recovered acks and the first ``count`` of ``seqs`` are marked in the table."""
        self.recovered = []
        self.seqs = self.seqs[count:]
        if self.seqs:
            self._rewrite()  # journaled while the table was written: only those stay
            return
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            # Closed while empty: a site of many identities holds open only the journals of
            # senders with acks not in the table yet, not one per identity that ever sent.
            self.close()
        elif self._size:
            os.truncate(self.path, 0)
        self._size = 0

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
        self._fd = self._closer = None

    def _rewrite(self) -> None:
        """Replace the file by one holding just ``seqs``: a crash meanwhile leaves either."""
        temp = self.path.with_name(f"{self.path.name}.new")
        fd = os.open(temp, _APPEND | os.O_TRUNC, 0o600)
        try:
            size = _write(fd, self.seqs, 0, str(temp))
            os.replace(temp, self.path)
        except BaseException:
            os.close(fd)
            raise
        self.close()
        self._use(fd)
        self._size = size

    def _use(self, fd: int) -> int:
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd)
        return fd


def _write(fd: int, seqs: Sequence[int], size: int, path: str) -> int:
    """Append ``seqs`` to a file of ``size`` bytes; returns the new size."""
    at_s = time.time()
    data = b"".join(_RECORD.pack(seq, at_s) for seq in seqs)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to the ack journal {path}")
    except OSError:
        os.ftruncate(fd, size)
        raise
    return size + len(data)


def _read(path: Path) -> tuple[list[int], int]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:  # its acks are lost: those messages are sent again (at least once)
        log.warning("ack journal unreadable", path=str(path), error=str(exc))
        return [], 0
    whole = len(data) - len(data) % _RECORD.size  # a torn last record was never acked
    # Sequence numbers start at 1: zeros (a file extended but not written) mean nothing.
    return [seq for seq, _ in _RECORD.iter_unpack(data[:whole]) if seq > 0], whole
