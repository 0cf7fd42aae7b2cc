"""Which identities a commit put outbox rows in line for, so their senders wake at once.

Every statement that makes a row pending (``rows.append_in``, a requeue) names its identity
with ``queued``; ``Database`` collects them over a write batch (``collecting``) and, once the
batch is committed, tells its listeners (``Outbox.on_queued``): a sender waits for that instead
of reading its line again every second. A job gets only the connection, and a batch runs whole
on the database's thread, so the batch's set is kept per thread. A job rolled back inside a
batch may leave its identity in the set: a sender woken for nothing reads once and finds
nothing, which costs a read; a row never told of would wait for the next restart.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Batch(threading.local):
    identities: set[str] | None = None  # None: no batch runs on this thread


_batch = _Batch()


def queued(identity: str) -> None:
    """A row of ``identity`` was made pending in the transaction running on this thread."""
    found = _batch.identities
    if found is not None:
        found.add(identity)


@contextmanager
def collecting() -> Iterator[set[str]]:
    """The identities ``queued`` while the block runs (on this thread)."""
    found: set[str] = set()
    outer, _batch.identities = _batch.identities, found
    try:
        yield found
    finally:
        _batch.identities = outer
