"""Crash harness with the uplink: orderly stops (SIGTERM while charging) and kills (SIGKILL).

Each row: lives stopped by that signal, then one final life that delivers the rest, against a
bench CSMS that records every CALL received. ``duplicates``: CALLs the CSMS received again
(byte-identical repeats of a CALL whose answer was lost); ``lost_sessions`` and ``lost_wh``:
sessions closed in the database that the CSMS did not bill as recorded, and their energy;
``power_loss_sessions``: sessions closed after a kill found the EV gone, each billed up to its
last sampled register. ``CRASH_BENCH_CYCLES`` sets the number of lives per row (default 40).
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from tests.integration.crash.test_crash_safety import Zygote
from tests.integration.crash.uplink_run import recording_csms, run_lives


def _row(sig: signal.Signals, cycles: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        directory = Path(tmp)
        zygote = Zygote()
        try:
            with recording_csms(directory) as csms:
                run = run_lives(zygote, directory, csms, sig, cycles)
        finally:
            zygote.close()
    d = run.delivery
    return {
        "stop": sig.name,
        "cycles": cycles,
        "clean_exits": sum(1 for c in run.codes if c == 0),
        "sessions": d.sessions,
        "closed_by_orderly_stop": run.counts.get("Reboot", 0),
        "duplicates": d.duplicate_count,
        "duplicate_starts": d.duplicates.get("StartTransaction", 0),
        "duplicate_stops": d.duplicates.get("StopTransaction", 0),
        "lost_sessions": d.lost_sessions,
        "recorded_wh": d.recorded_wh,
        "lost_wh": d.lost_wh,
        "power_loss_sessions": d.power_loss_sessions,
        "meter_values_outside": d.meter_values_outside,
    }


def run() -> list[dict[str, Any]]:
    cycles = int(os.environ.get("CRASH_BENCH_CYCLES", "40"))
    return [_row(signal.SIGTERM, cycles), _row(signal.SIGKILL, cycles)]
