"""`edge-controller outbox`: the messages the CSMS refused past their attempts (parked), and
putting them back in line.

Listing reads the database read-only (the daemon may run meanwhile). Putting back goes through
the running daemon's status socket (POST /outbox/requeue), whose outbox wakes its sender; with
the daemon stopped it is written to the database directly and sent at the next start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from edge_controller.api.server import REQUEUE
from edge_controller.storage import history
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox

REQUEUE_PATH = REQUEUE
_ERROR_CHARS = 120


def utc(at_s: float) -> str:
    return datetime.fromtimestamp(at_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_parked(rows: list[history.ParkedRow], out: TextIO) -> None:
    """One line per parked message: what it is, since when, and why the CSMS refused it."""
    if not rows:
        out.write("no parked messages\n")
        return
    out.write(f"{'seq':>8} {'identity':<16} {'event':<20} {'session':>7} {'queued':<20} "
              f"{'tries':>5}  last error\n")  # fmt: skip
    for r in rows:
        session = "-" if r.session_local_id is None else str(r.session_local_id)
        error = (r.last_error or "").replace("\n", " ")[:_ERROR_CHARS]
        out.write(f"{r.seq:>8} {r.identity:<16} {r.event or r.kind:<20} {session:>7} "
                  f"{utc(r.created_at_s):<20} {r.attempts:>5}  {error}\n")  # fmt: skip


def parse_request(body: dict[str, Any]) -> int | None:
    """The body of a requeue request: {"seq": N} for one message, {"all": true} for all
    (None). ValueError names what is wrong."""
    if body.get("all") is True and "seq" not in body:
        return None
    seq = body.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 and "all" not in body:
        return seq
    raise ValueError('expected {"seq": N} (a positive integer) or {"all": true}')


async def requeue(outbox: Outbox, seq: int | None) -> list[int]:
    """Put ``seq`` (None: every parked message) back in line; ValueError: ``seq`` is not
    parked."""
    if seq is None:
        return await outbox.requeue_all()
    try:
        await outbox.requeue(seq)
    except KeyError as exc:
        raise ValueError(f"outbox message {seq} is not parked") from exc
    return [seq]


def daemon_requeue(
    outbox: Outbox, wake: Callable[[], None]
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """The status socket's requeue job: the sender is woken to send at once."""

    async def job(body: dict[str, Any]) -> dict[str, Any]:
        seqs = await requeue(outbox, parse_request(body))
        if seqs:
            wake()
        return {"requeued": seqs}

    return job


async def requeue_offline(database: Path, seq: int | None) -> list[int]:
    """With the daemon stopped: write the requeue to the database itself."""
    db = await Database.open(database)
    try:
        return await requeue(Outbox(db), seq)
    finally:
        await db.close()
