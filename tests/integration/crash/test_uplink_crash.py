"""The whole path to the CSMS under orderly stops (SIGTERM while charging) and kills (SIGKILL):
every session billed once, with the Wh recorded; repeats counted and reported.

A bench CSMS process records every CALL it receives (with its unique id) across all lives.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.crash.checks import check_database, check_events
from tests.integration.crash.delivery import Delivery, check_delivery
from tests.integration.crash.test_crash_safety import REPO, SOAK, Zygote

SIGTERM_CYCLES = 40 if SOAK else 12
KILL_CYCLES = 120 if SOAK else 30


@dataclass
class Csms:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[Csms]:
    port, log = _free_port(), tmp_path / "csms.jsonl"
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


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


def _lives(
    zygote: Zygote, paths: tuple[Path, Path], csms: Csms, sig: signal.Signals, cycles: int
) -> list[int]:
    """Start a life, let it charge a while, signal it; the exit codes of every life."""
    rng = random.Random(int(sig) * 1000 + cycles)
    codes = []
    for _ in range(cycles):
        pid = zygote.child_pid = int(zygote.ask(f"ocpp {paths[0]} {paths[1]} {csms.url}"))
        time.sleep(rng.uniform(0.3, 1.2))
        with contextlib.suppress(ProcessLookupError):
            zygote_signal(pid, sig)
        codes.append(int(zygote.ask(f"reap {pid}")))
        zygote.child_pid = None
    return codes


def zygote_signal(pid: int, sig: signal.Signals) -> None:
    import os

    os.kill(pid, sig)


def _finish(zygote: Zygote, paths: tuple[Path, Path], csms: Csms) -> Delivery:
    db, events = paths
    assert zygote.ask(f"ocpp-finish {db} {events} {csms.url} 40") == "0", "final run failed"
    counts = check_database(db)
    announced = [line for line in events.read_text().splitlines()
                 if not line.startswith("recovered")]  # fmt: skip
    assert check_events(db, announced) == len(announced)
    delivery = check_delivery(db, csms.log)
    assert delivery.sessions == counts["sessions"] - counts.get("None", 0)
    return delivery


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_orderly_stops_while_charging_send_nothing_twice_and_lose_nothing(
    zygote: Zygote, csms: Csms, tmp_path: Path
) -> None:
    paths = (tmp_path / "crash.db", tmp_path / "events.log")
    codes = _lives(zygote, paths, csms, signal.SIGTERM, SIGTERM_CYCLES)
    assert codes == [0] * SIGTERM_CYCLES, "every orderly stop exits 0"
    delivery = _finish(zygote, paths, csms)
    reboots = check_database(paths[0]).get("Reboot", 0)
    print(f"orderly stops: cycles={SIGTERM_CYCLES} reboot-closed={reboots} {delivery.report()}")
    assert reboots >= SIGTERM_CYCLES // 2, "the stops came while sessions were charging"
    assert delivery.duplicates == {}, delivery.report()
    assert delivery.lost_sessions == 0 and delivery.lost_wh == 0, delivery.report()
    assert delivery.meter_values_outside == 0 and delivery.resent_differently == 0
    assert delivery.sessions >= SIGTERM_CYCLES and delivery.billed_wh > 0


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_kills_lose_nothing_and_repeat_at_most_what_was_in_flight(
    zygote: Zygote, csms: Csms, tmp_path: Path
) -> None:
    paths = (tmp_path / "crash.db", tmp_path / "events.log")
    _lives(zygote, paths, csms, signal.SIGKILL, KILL_CYCLES)
    delivery = _finish(zygote, paths, csms)
    print(f"kills: cycles={KILL_CYCLES} {delivery.report()}")
    # At-least-once: a kill can repeat the one CALL in flight, byte for byte, never more.
    assert delivery.duplicate_count <= KILL_CYCLES and delivery.resent_differently == 0
    assert delivery.lost_sessions == 0 and delivery.lost_wh == 0, delivery.report()
    assert delivery.meter_values_outside == 0
    assert delivery.power_loss_sessions >= 1 and delivery.sessions >= KILL_CYCLES // 3
