"""Sessions export benchmark: `edge-controller sessions` over 100,000 stored, priced sessions
(a year of a site with about 11 connectors at 25 sessions a day, or 24 at 11).

Rows are written as the daemon stores them (registers, tariff, cost with its breakdown of three
periods); the export reads them back on a read-only connection and streams CSV; the summary
sums the same rows by day. Figures: wall time and sessions per second, and the peak memory the
export added (tracemalloc), which must not grow with the number of sessions."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, TextIO, cast
from zoneinfo import ZoneInfo

from edge_controller.app import sessions_report as report
from edge_controller.storage.migrations import migrate

SESSIONS = 100_000
ZONE = ZoneInfo("Europe/Berlin")
START_S = 1_767_222_000.0  # 2026-01-01 00:00 Berlin
BREAKDOWN = {
    "tariff_id": "std",
    "tariff_version": 1,
    "currency": "EUR",
    "type_of_cost": "normal",
    "total_excl_tax": "10.00",
    "total_incl_tax": "11.90",
    "components": [{"component": "energy", "excl_tax": "10.00", "incl_tax": "11.90"}],
    "taxes": [{"name": "VAT", "percent": "19", "stack": 0, "amount": "1.90"}],
    "periods": [
        {"start": "2026-01-01T08:00:00Z", "end": "2026-01-01T09:00:00Z", "activity": "charging",
         "energy_wh": "8000", "duration_s": "3600", "prices": [], "amounts": [],
         "excl_tax": "3.33", "incl_tax": "3.96"}
    ] * 3,
}  # fmt: skip


def _fill(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    body = json.dumps(BREAKDOWN)
    conn.execute("BEGIN")
    for n in range(1, SESSIONS + 1):
        start_s = START_S + n * 315.0  # a year
        conn.execute(
            "INSERT INTO sessions (local_id, connector_id, id_tag, start_at_s, meter_start_wh,"
            " last_meter_wh, last_meter_at_s, stop_at_s, meter_stop_wh, stop_reason, tariff_id,"
            " tariff_version, tariff_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'std', 1,"
            " 'config')",
            (n, f"cp{n % 24}:1", f"04A1B2C3{n:06d}", start_s, n * 10, n * 10 + 24000,
             start_s + 3000, start_s + 3000, n * 10 + 24000, "EVDisconnected"),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO session_costs VALUES (?, 'EUR', ?, ?, ?, ?)",
            (n, 1000 + n % 97, 1190 + n % 113, body, start_s + 3000),
        )
    conn.execute("COMMIT")
    conn.close()


class _Sink:
    """Counts what is written and keeps nothing (as a pipe to a file would)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


def _timed(action: Any) -> tuple[float, int]:
    """Wall time of one run, then the peak memory of a second run (tracemalloc slows it)."""
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edge.db"
        _fill(path)
        query = report.Query(path, "bench", ZONE)
        rows = []
        for fmt in ("csv", "json"):
            sink = _Sink()
            out = cast(TextIO, sink)
            elapsed, peak = _timed(lambda f=fmt, o=out: report.list_sessions(query, f, o))
            rows.append(_row(f"export {fmt}", elapsed, peak, sink.size // 2))  # two runs
        sink = _Sink()
        out = cast(TextIO, sink)
        elapsed, peak = _timed(lambda: report.write_summary(query, "day", "csv", out))
        rows.append(_row("summary by day", elapsed, peak, sink.size // 2))
        return rows


def _row(case: str, elapsed_s: float, peak_bytes: int, output_bytes: int) -> dict[str, Any]:
    return {
        "case": f"{case}, {SESSIONS:,} sessions",
        "s": round(elapsed_s, 2),
        "sessions_per_s": round(SESSIONS / elapsed_s),
        "peak_mib": round(peak_bytes / 2**20, 1),
        "output_mib": round(output_bytes / 2**20, 1),
    }
