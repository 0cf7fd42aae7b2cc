"""Runs of the crash harness with the uplink: lives stopped by a signal, a final life that
delivers everything, and what the recording CSMS got (for the tests and ``bench/bench_crash``)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration.crash.checks import check_database, check_events
from tests.integration.crash.delivery import Delivery, check_delivery
from tests.integration.crash.test_crash_safety import REPO, Zygote

FINAL_STEPS = 40
Check = Callable[[Path, Path], Delivery]  # the delivery check of the version spoken


@dataclass
class Csms:
    url: str
    log: Path


@dataclass
class Run:
    codes: list[int]  # exit code of every signalled life
    counts: dict[str, int]  # check_database: sessions, messages, per stop reason
    delivery: Delivery
    # Kills that came while an EV waited unauthorised in a transaction begun at its plug-in.
    kills_while_plugged: int = 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def recording_csms(directory: Path) -> Iterator[Csms]:
    """The bench CSMS as its own process, logging every CALL it receives (with its id)."""
    port, log = _free_port(), directory / "csms.jsonl"
    args = [sys.executable, "-m", "edge_controller", "csms", "--port", str(port), "--log", str(log)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert proc.poll() is None and time.monotonic() < deadline, "the CSMS did not start"
            time.sleep(0.05)
        yield Csms(f"ws://127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


OPEN_SESSIONS = "SELECT count(*) FROM sessions WHERE stop_at_s IS NULL"
OPEN_PLUGS = "SELECT count(*) FROM plug_transactions WHERE closed_at_s IS NULL"


def _count(db: Path, sql: str) -> int:
    """Read as a second process would (0 while the database cannot be read)."""
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    return 0


def _wait_for(db: Path, sql: str, timeout_s: float = 10.0) -> bool:
    """True once ``sql`` counts a row: a session not yet ended, a plug-in's open transaction."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _count(db, sql) > 0:
            return True
        time.sleep(0.02)
    return False


def run_lives(zygote: Zygote, directory: Path, csms: Csms, sig: signal.Signals,
              cycles: int, *, check: Check = check_delivery, plug_kills: bool = False
              ) -> Run:  # fmt: skip
    """``cycles`` lives, each charging a while and then sent ``sig``; a final life delivers
    what is left and stops in order; then every invariant is checked.

    With SIGKILL every third kill comes while a session is open and the next life resumes after
    an outage during which that EV left: the power loss every site lives through, made certain
    rather than left to the timing of the kills. ``plug_kills``: every third kill waits for an EV
    in a plug-in's transaction, not yet authorised."""
    db, events = directory / "crash.db", directory / "events.log"
    rng = random.Random(int(sig) * 1000 + cycles)
    codes = []
    outage = False
    plugged = 0
    for cycle in range(cycles):
        command = "ocpp-outage" if outage else "ocpp"
        pid = zygote.child_pid = int(zygote.ask(f"{command} {db} {events} {csms.url}"))
        time.sleep(rng.uniform(0.3, 1.2))
        outage = sig == signal.SIGKILL and cycle % 3 == 2 and _wait_for(db, OPEN_SESSIONS)
        if sig == signal.SIGTERM:
            # An orderly stop is one the daemon has its handler for: under load a life can take
            # longer than the pause to reach its run loop, and a SIGTERM then ends it by default.
            _wait_for(db, OPEN_SESSIONS)
        if plug_kills and cycle % 3 == 1:
            _wait_for(db, OPEN_PLUGS)  # between a plug-in's Started and the card, if any
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        codes.append(int(zygote.ask(f"reap {pid}")))
        zygote.child_pid = None
        plugged += _count(db, OPEN_PLUGS) > 0
    final = zygote.ask(f"ocpp-finish {db} {events} {csms.url} {FINAL_STEPS}")
    assert final == "0", "the final life failed"
    counts = check_database(db)
    announced = [line for line in events.read_text().splitlines()
                 if not line.startswith("recovered")]  # fmt: skip
    assert check_events(db, announced) == len(announced)
    delivery = check(db, csms.log)
    assert delivery.sessions == counts["sessions"] - counts.get("None", 0)
    return Run(codes, counts, delivery, plugged)
