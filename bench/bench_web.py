"""The web faces' cost: the site display with 24 connectors rendered in-process (a full page,
one live update), and the real daemon on the demo site's devices serving 200 live display
clients: its CPU and memory, and the control loop's overload reaction p99 without and with the
clients in the same run (the ratio says whether the web slows the control path).

The reaction part drives the demo site like ``bench_reaction`` (all Modbus TCP): building-load
steps that overload the grid, each timed once by the daemon (``setpoints lowered``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_reaction import (
    HIGH_BASE_A,
    LOW_BASE_A,
    PROFILES,
    RESUME_WITHIN_S,
    _all_offered,
    _reactions_ms,
    _summary_ms,
    demo_config,
)
from bench.proc_stats import cpu_s, status_mb
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.drivers.modbus.stats import percentile
from edge_controller.web.display import DisplayHub
from edge_controller.web.display_model import DisplaySetup, StartWay, display_model
from edge_controller.web.pages import display_page
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.overload import overload_step
from tests.ports import free_port

CONNECTORS = 24
RENDERS = 500
CLIENTS = 200
STEPS = int(os.environ.get("WEB_BENCH_STEPS", "8"))  # overload steps per phase


def _view(now_s: float) -> SiteView:
    kinds = list(Availability)
    connectors = tuple(
        ConnectorView(
            f"cp{n // 2 + 1}:{n % 2 + 1}",
            kinds[n % len(kinds)],
            16.0,
            "max 16 A",
            (15.9, 16.0, 15.8),
            power_w=11_000.0 + n,
            session_energy_wh=1234.5 + n,
            session_id=str(n),
            at_s=now_s,
            session_started_s=now_s - 600 - n,
            price={"currency": "EUR", "per_kwh": "0.49", "per_session": "0.50"},
            running_cost={"currency": "EUR", "incl_tax": "1.23"},
        )
        for n in range(CONNECTORS)
    )
    return SiteView("bench", (40.0, 38.0, 41.0), 63.0, (20.0, 22.0, 19.0), 0.3, connectors)


class _Fixed:
    def __init__(self, view: SiteView) -> None:
        self.view = view

    def current(self) -> SiteView:
        return self.view

    async def next_view(self) -> SiteView:
        return self.view


def _us(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(percentile(ordered, 0.99) * 1e6, 1),
    }


def _render_rows() -> list[dict[str, Any]]:
    now_s = time.time()
    view = _view(now_s)
    ids = tuple(c.connector_id for c in view.connectors)
    setup = DisplaySetup("bench", ids, {cid: (StartWay.CARD, StartWay.APP) for cid in ids})
    pages, updates = [], []
    for _ in range(RENDERS):
        started = time.perf_counter()
        display_page(display_model(view, setup, "de", now_s), "de", None)
        pages.append(time.perf_counter() - started)
    hub = DisplayHub(_Fixed(view), setup, 1.0)
    for _ in range(RENDERS):
        started = time.perf_counter()
        hub.publish(view)  # a new snapshot: every open page gets one rendered update
        size = len(hub.update("de", None))
        updates.append(time.perf_counter() - started)
    return [
        {"case": f"full page, {CONNECTORS} connectors", **_us(pages)},
        {"case": f"live update, {CONNECTORS} connectors ({size} bytes)", **_us(updates)},
    ]


async def _client(http: aiohttp.ClientSession, url: str, counts: list[int], i: int) -> None:
    with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
            async for line in response.content:
                if line.startswith(b"data: "):
                    counts[i] += 1


async def _steps(site: E2ESite, limit_a: float) -> None:
    for _ in range(STEPS):
        await eventually(lambda: _all_offered(site), "every EV resumed", RESUME_WITHIN_S)
        await overload_step(site, limit_a, (LOW_BASE_A, HIGH_BASE_A), 60.0)
        await asyncio.sleep(2.0)
        await site.control.set_base_load(LOW_BASE_A, LOW_BASE_A, LOW_BASE_A)
    await eventually(lambda: _all_offered(site), "every EV resumed", RESUME_WITHIN_S)


async def _phase(site: E2ESite, pid: int, limit_a: float, work: Path) -> dict[str, Any]:
    before = len(_reactions_ms(work))
    cpu0, wall0 = cpu_s(pid), time.monotonic()
    await _steps(site, limit_a)
    cpu_share = (cpu_s(pid) - cpu0) / (time.monotonic() - wall0)
    reactions = _reactions_ms(work)[before:]
    return {
        "timed": len(reactions),
        **_summary_ms(reactions),
        "daemon_cpu_percent": round(cpu_share * 100, 1),
        "daemon_rss_mb": round(status_mb(pid), 1),
    }


async def _daemon_rows() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        work = Path(tmp)
        config = demo_config(work, rtu_as_tcp=True)
        config["web"] = {"enabled": True, "port": free_port(), "requests_per_minute": 100_000}
        site = E2ESite(work, work / "state", config)
        try:
            await site.start_sim()
            await site.start_daemon()
            assert site.daemon is not None
            pid = site.daemon.popen.pid
            for connector, profile in PROFILES.items():
                await site.control.plug(connector, profile=profile)
            limit_a = float(config["site"]["grid_limit_a"])
            without = await _phase(site, pid, limit_a, work)
            url = f"http://127.0.0.1:{config['web']['port']}/display/events?lang=de"
            counts = [0] * CLIENTS
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                tasks = [asyncio.create_task(_client(http, url, counts, i)) for i in range(CLIENTS)]
                await eventually(lambda: _all_listening(counts), "every client has an update")
                started = sum(counts)
                with_clients = await _phase(site, pid, limit_a, work)
                delivered = sum(counts) - started
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await site.close()
    ratio = None
    if without["p99_ms"] and with_clients["p99_ms"]:
        ratio = round(with_clients["p99_ms"] / without["p99_ms"], 2)
    return [
        {"case": "daemon, no display client", **without},
        {
            "case": f"daemon, {CLIENTS} live display clients",
            **with_clients,
            "updates_delivered": delivered,
            "reaction_p99_ratio": ratio,
        },
    ]


async def _all_listening(counts: list[int]) -> bool:
    return all(count > 0 for count in counts)


def run() -> list[dict[str, Any]]:
    return _render_rows() + asyncio.run(_daemon_rows())
