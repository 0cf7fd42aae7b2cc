"""The soak (``make soak``): a generated site with OCPP (an identity per charger, to the bench
CSMS) and MQTT on, run for ``SOAK_MINUTES`` (60 by default), EVs coming and going all along.
Every ``SOAK_SAMPLE_S`` (60 s; a short run samples more often, so its second half still has
points) it samples the daemon's RSS and open files, the outbox backlog, and the database's size
(with its WAL) and rows. The database keeps every session and sample, and acknowledged messages
for ``storage.outbox_retention_days``, so its size follows what it records: the figure checked
is its bytes per row kept, not its size.

Writes bench/results/soak.json (the samples and one verdict per figure: the second half's
slope, ``bench.trend``) and one SVG plot per figure against time, and exits 1 when a figure
grows past its tolerance. ``SOAK_MINUTES=5`` is the short mode; ``SOAK_CONNECTORS`` (48) sets
the site's size; a size other than the default writes soak-<size>.json and its plots, so the
default's record stays.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_scale_ocpp import Csms, site_description
from bench.procstat import open_fds, status_mb
from bench.svg_plot import write_plot
from bench.trend import second_half_trend
from edge_controller.api.client import DaemonNotAnswering, fetch_status
from edge_controller.api.server import STATUS_SOCKET
from edge_controller.sim.generate import connector_ids, generate_site
from tests.e2e.launch import E2ESite
from tests.integration.mqtt.broker import Mosquitto
from tests.ports import free_port

MINUTES = float(os.environ.get("SOAK_MINUTES", "60"))
SAMPLE_S = float(os.environ.get("SOAK_SAMPLE_S", str(min(60.0, MINUTES * 60 / 20))))
DEFAULT_CONNECTORS = 48
CONNECTORS = int(os.environ.get("SOAK_CONNECTORS", str(DEFAULT_CONNECTORS)))
NAME = "soak" if CONNECTORS == DEFAULT_CONNECTORS else f"soak-{CONNECTORS}"
VISIT_S = min(900.0, MINUTES * 60 / 4)  # each EV stays this long, then leaves for a fifth of it
RESULTS = Path(__file__).parent / "results"
FIGURES = ("rss_mb", "open_fds", "outbox_backlog", "db_bytes_per_row", "db_mb")
# How much a figure may grow over the second half (db_mb is reported, not judged).
TOLERANCE = {"rss_mb": 3.0, "open_fds": 2.0, "outbox_backlog": CONNECTORS / 4}
DB_ROW_GROWTH = 0.05  # bytes per row kept: 5 % of the second half's mean
STATUS_TRIES = 3
STATUS_TIMEOUT_S = 20.0


def visits(chargers: dict[str, Any], total_s: float) -> list[dict[str, Any]]:
    """EVs come and go on every connector for the whole run, their visits staggered."""
    ids = connector_ids(chargers)
    gap_s = VISIT_S / 5
    script = []
    for i, cid in enumerate(ids):
        arrive_s = 1.0 + (VISIT_S + gap_s) * i / len(ids)
        while arrive_s < total_s:
            profile = "compact" if i % 2 else "van"
            leave_s = arrive_s + VISIT_S
            script.append({"connector": cid, "profile": profile, "arrive_s": round(arrive_s, 1),
                           "leave_s": round(leave_s, 1)})  # fmt: skip
            arrive_s = leave_s + gap_s
    return script


def _db(site: E2ESite) -> tuple[int, int]:
    """The database's bytes (with its WAL) and the rows of all its tables."""
    files = [site.db_path, site.db_path.with_name(site.db_path.name + "-wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    tables = [t for (t,) in site.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    rows = sum(int(site.query(f'SELECT count(*) FROM "{t}"')[0][0]) for t in tables)
    return size, rows


async def _backlog(site: E2ESite) -> tuple[int | None, float | None]:
    """The outbox backlog and how long the status took to answer. A busy machine can delay the
    answer past the client's timeout: the soak then asks again, and after the last try records a
    gap (None) rather than ending an hour's run; a daemon that is gone still ends it."""
    for _ in range(STATUS_TRIES):
        asked_s = time.monotonic()
        try:
            view = await fetch_status(site.state_dir / STATUS_SOCKET, timeout_s=STATUS_TIMEOUT_S)
        except DaemonNotAnswering as exc:
            print(f"status: {exc}", file=sys.stderr, flush=True)
            continue
        return view.outbox_backlog, round((time.monotonic() - asked_s) * 1000, 1)
    return None, None


async def _sample(site: E2ESite, started_s: float) -> dict[str, Any]:
    assert site.daemon is not None
    if not site.daemon.alive():
        raise RuntimeError(f"the daemon exited with {site.daemon.popen.returncode}")
    pid = site.daemon.pid
    size, rows = _db(site)
    backlog, answer_ms = await _backlog(site)
    return {
        "t_s": round(time.monotonic() - started_s, 1),
        "load_1m": round(os.getloadavg()[0], 2),
        "rss_mb": round(status_mb(pid, "VmRSS"), 2),
        "open_fds": open_fds(pid),
        "outbox_backlog": backlog,
        "status_answer_ms": answer_ms,
        "db_mb": round(size / 1e6, 3),
        "db_rows": rows,
        "db_bytes_per_row": round(size / max(1, rows), 1),
    }


def verdicts(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for figure in ("rss_mb", "open_fds", "outbox_backlog", "db_bytes_per_row"):
        answered = [s for s in samples if s[figure] is not None]  # a status gap has no backlog
        times = [s["t_s"] for s in answered]
        values = [s[figure] for s in answered]
        half = values[len(values) // 2 :]
        tolerance = TOLERANCE.get(figure, DB_ROW_GROWTH * sum(half) / max(1, len(half)))
        trend = second_half_trend(times, values, tolerance)
        found[figure] = {"slope_per_h": round(trend.slope_per_h, 3),
                         "second_half_growth": round(trend.drift, 3),
                         "tolerance": round(tolerance, 3), "flat": trend.flat}  # fmt: skip
    return found


async def soak(workdir: Path) -> list[dict[str, Any]]:
    broker = Mosquitto(workdir)
    broker.start()
    csms = Csms(workdir, free_port())
    config = generate_site(site_description(CONNECTORS, "per_charger", workdir, broker, csms.port))
    config["simulation"]["ev_script"] = visits(config["chargers"], MINUTES * 60 + 60)
    site = E2ESite(workdir, workdir / "state", config)
    samples = []
    try:
        csms.start()
        await csms.stats()
        await site.start_sim()
        await site.start_daemon(300)
        started_s = time.monotonic()
        while time.monotonic() - started_s < MINUTES * 60:
            samples.append(await _sample(site, started_s))
            print(json.dumps(samples[-1]), flush=True)
            await asyncio.sleep(SAMPLE_S)
        samples.append(await _sample(site, started_s))
    finally:
        await site.close()
        await csms.close()
        broker.stop()
    return samples


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        samples = asyncio.run(soak(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    found = verdicts(samples)
    payload = {
        "area": "soak",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "minutes": MINUTES,
        "sample_s": SAMPLE_S,
        "connectors": CONNECTORS,
        "websockets": CONNECTORS,
        "verdicts": found,
        "status_gaps": sum(1 for s in samples if s["outbox_backlog"] is None),
        "samples": samples,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{NAME}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    for figure in FIGURES:
        answered = [s for s in samples if s[figure] is not None]
        times = [max(1.0, s["t_s"]) for s in answered]
        write_plot(RESULTS / f"{NAME}-{figure}.svg", figure, times, [s[figure] for s in answered],
                   x_label="seconds since the daemon started", log_x=False)  # fmt: skip
    for figure, verdict in found.items():
        print(f"{figure}: {verdict}")
    return 0 if all(v["flat"] for v in found.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
