"""One gateway at 10, 24, 100 and 1,000 connectors: the real ``edge-controller run`` against sites
made by ``edge-controller simulate --generate`` (CHARX controllers with 8 connectors and KEBAs,
each on its own Modbus TCP address, grid and feeder meters, a two-level feeder tree),
the simulator in a process of its own, MQTT to a real Mosquitto, OCPP off.

Per size: every connector gets a three-phase EV within 30 s; 20 s after the last, a steady
window at the 1 s control tick measures the daemon's CPU (utime + stime from /proc/PID/stat over
the window's wall time), its RSS (VmRSS at the window's end, VmHWM the peak),
the Modbus requests the simulated devices answered, the MQTT messages a subscriber to the site's
prefix received and the database rows written (growth of every table's largest rowid: inserts,
not updates; per table and per meter-value context in ``db_rows_in_window``, beside the open
sessions, each of which records a meter value per sample interval). Then 100 overload steps of
the building load (``SCALE_BENCH_STEPS``; one that did not overload it is made again, a quarter
more steps at most), so that about a hundred reactions are timed and the p99 is the second
slowest of them rather than the slowest of twenty; each step comes once the EVs
fill the connection again to nine tenths of the window's use (at most 30 s) and sized from the
grid's use at that moment to overload the connection by a tenth of its limit (on a busy host
unanswered chargers count at their maximum and the EVs fill less of it; ``steps`` says how full
it was before each and whether the overload was seen): reaction = the daemon's own timing from
the overloading grid reading to the last lowered setpoint written ("setpoints lowered"), and of
it the wait for the loop's step to begin (``reaction_waited_p99_ms``); ``reactions_timed`` is how
many the percentiles are of, and ``reactions`` lists each with its parts, the setpoints lowered,
the longest one write took and the connector written last.
While a step is under way the bench polls the grid meter alone, not the site's whole state.
Rows go to bench/results/scale.json, one plot per figure against the connector count to
bench/results/scale-<figure>.png (matplotlib, the ``bench`` extra) and .svg (no library).
``SCALE_BENCH_SIZES``, ``SCALE_BENCH_WINDOW_S`` and ``SCALE_BENCH_STEPS`` shorten a run; the
rows of sizes left out are kept from the last run, each row saying when it was measured.
Targets: 1,000 connectors < 50 % of a core, RSS <= 150 MB, reaction p99 <= 250 ms; 24
connectors RSS <= 60 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

from bench.png_plot import write_png
from bench.proc_stats import cpu_s, status_mb
from bench.svg_plot import write_plot
from edge_controller.drivers.modbus.stats import percentile
from edge_controller.sim.generate import generate_site
from edge_controller.sim.site_build import BASE_LOAD_MAX_A
from tests.e2e.checks import charging, grid_a, plugged
from tests.e2e.launch import E2ESite, eventually
from tests.integration.mqtt.broker import PREFIX, USERS, Mosquitto
from tests.ports import free_port

SIZES = tuple(int(n) for n in os.environ.get("SCALE_BENCH_SIZES", "10,24,100,1000").split(","))
# One meter-value sample interval (60 s by default): each charging session writes its one sample
# row in the window wherever its minute began; a shorter window saw all, some or none of them.
WINDOW_S = float(os.environ.get("SCALE_BENCH_WINDOW_S", "60"))
# A hundred steps (each timing a reaction or two), so that the p99 is the second slowest of
# a hundred reactions or more, not the slowest of twenty (the nearest rank of 0.99 in fewer
# than 100 is the last, in 100 to 199 the one before it). Each step takes 10-40 s at 1,000
# connectors, mostly the EVs refilling.
STEPS = int(os.environ.get("SCALE_BENCH_STEPS", "100"))
ARRIVE_WITHIN_S = 30.0
# Before each step the EVs refill the connection to this share of the window's use (the EVs a
# step paused resume after min_pause_s and come back one increase interval after another).
REFILL_SHARE = 0.9
REFILL_WITHIN_S = 30.0
SIM_TICK_S = 0.5  # the simulator's physics step
REACTION_PARTS = ("reaction_ms", "waited_ms", "decided_ms", "connectors", "slowest_write_ms")
START_WITHIN_S = 240.0  # a 1,000-connector site reads every device once before it answers
RESULTS = Path(__file__).parent / "results"
TARGETS = {
    24: {"rss_mb": 60.0},  # a small site's gateway
    1000: {"cpu_share_of_core": 0.5, "rss_mb": 150.0, "reaction_p99_ms": 250.0},
}
PLOTTED = (
    "cpu_share_of_core",
    "rss_mb",
    "reaction_p99_ms",
    "modbus_requests_per_s",
    "mqtt_messages_per_s",
    "db_rows_per_s",
)


def _mix(connectors: int) -> tuple[int, int]:
    """CHARX controllers and KEBAs: about one connector in 25 on a KEBA, the rest on CHARXs."""
    kebas = max(2, connectors // 25)
    kebas += (connectors - kebas) % 8
    return (connectors - kebas) // 8, kebas


def _free_block(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are all free now."""
    for _ in range(50):
        first = 20000 + free_port() % 20000
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


def site_description(connectors: int, workdir: Path, broker: Mosquitto) -> dict[str, Any]:
    charx, kebas = _mix(connectors)
    limit_a = min(6300, max(40, 3 * connectors))
    return {
        "generate": {
            "first_port": _free_block(1 + kebas + charx),
            # Each CHARX on its own address, as on a real site (a controller is an Ethernet
            # device); 32 controllers behind one connection overload it at a 1 s poll.
            "charx": {"controllers": charx, "connectors": 8, "per_gateway": 1},
            "keba": kebas,
            "feeders": [
                {"count": 2, "limit_a": round(0.6 * limit_a)},
                {"count": 2, "limit_a": round(0.3 * limit_a)},
            ],
            "feeder_meters": True,
            "arrivals": {
                "first_s": 1,
                "every_s": ARRIVE_WITHIN_S / connectors,
                "profiles": ["compact", "van"],
            },
        },
        "site": {
            "id": f"scale{connectors}",
            "grid_limit_a": limit_a,
            "tick_s": 1.0,
            "increase_interval_s": 1,
            "shutdown_grace_s": 3,
            # Short pauses, as in the demo, so the EVs paused by a step resume before the next.
            "min_pause_s": 10,
            "min_charge_s": 10,
            "rotation_interval_s": 60,
        },
        "ocpp": {"enabled": False, "authorization": {"free_vend_id_tag": "BENCH-FREE"}},
        "mqtt": {
            "enabled": True,
            "port": broker.port,
            "username": "edge",
            "password_file": str(broker.edge_password_file),
            "prefix": PREFIX,
            "ha_discovery": False,
        },
        "storage": {"state_dir": str(workdir / "state")},
        "logging": {"level": "info", "format": "json"},
        "simulation": {
            "enabled": True,
            "control_port": 0,
            "tick_s": SIM_TICK_S,
            "base_load": [{"at": "00:00", "current_a": [5, 5, 5]}],
            "ev_profiles": {
                "compact": {"phases": 3, "max_current_a": 16, "response_delay_s": 1},
                "van": {"phases": 3, "max_current_a": 32, "response_delay_s": 1},
            },
        },
    }


def _modbus_requests(state: dict[str, Any]) -> int:
    return sum(sum(d["requests"].values()) for d in state["devices"].values())


def _db_rows(site: E2ESite) -> dict[str, int]:
    """Each table's largest rowid (its rows inserted so far)."""
    tables = [t for (t,) in site.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    tops = {}
    for table in tables:
        with contextlib.suppress(Exception):  # WITHOUT ROWID tables have no rowid
            ((top,),) = site.query(f'SELECT coalesce(max(rowid), 0) FROM "{table}"')
            tops[table] = int(top)
    return tops


def _rows_written(site: E2ESite, before: dict[str, int]) -> dict[str, int]:
    """Rows inserted since ``before`` per table, and the meter values per reading context
    (``meter_values:<context>``): which writes the database rows are."""
    after = _db_rows(site)
    written = {t: n - before.get(t, 0) for t, n in after.items() if n > before.get(t, 0)}
    first = before.get("meter_values", 0)
    for context, count in site.query(
        "SELECT context, count(*) FROM meter_values WHERE id > ? GROUP BY context", (first,)
    ):
        written[f"meter_values:{context}"] = int(count)
    return written


class _Counter:
    """MQTT messages under the site's prefix, counted by an independent subscriber."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self, broker: Mosquitto) -> None:
        client = aiomqtt.Client(
            "127.0.0.1", broker.port, username="app", password=USERS["app"], timeout=5.0
        )
        async with client:
            await client.subscribe(f"{PREFIX}/#")
            async for _ in client.messages:
                self.count += 1


async def _steady(site: E2ESite, limit_a: float, connectors: int) -> None:
    async def arrived() -> bool:
        return len(plugged(await site.state())) == connectors

    await eventually(arrived, "every EV plugged in", ARRIVE_WITHIN_S + 60)

    await asyncio.sleep(20)  # ramps and pauses settle


async def _window(site: E2ESite, counter: _Counter, limit_a: float) -> dict[str, Any]:
    assert site.daemon is not None
    pid = site.daemon.pid
    loop = asyncio.get_running_loop()
    sim_pid = site.sim.pid if site.sim is not None else pid
    started, cpu0, sim0 = loop.time(), cpu_s(pid), cpu_s(sim_pid)
    modbus0, mqtt0, rows0 = _modbus_requests(await site.state()), counter.count, _db_rows(site)
    await asyncio.sleep(WINDOW_S)
    modbus1, mqtt1 = _modbus_requests(await site.state()), counter.count
    rows = _rows_written(site, rows0)
    wall_s, used_s = loop.time() - started, cpu_s(pid) - cpu0
    state = await site.state()
    ((sessions,),) = site.query("SELECT count(*) FROM sessions WHERE stop_at_s IS NULL")
    return {
        "grid_used_share": round(max(grid_a(state)) / limit_a, 2),
        "charging": len(charging(state)),
        "cpu_share_of_core": round(used_s / wall_s, 3),
        # The machine is shared: how busy it was, and the simulator's own share beside ours.
        "sim_cpu_share_of_core": round((cpu_s(sim_pid) - sim0) / wall_s, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "rss_mb": round(status_mb(pid, "VmRSS"), 1),
        "peak_rss_mb": round(status_mb(pid, "VmHWM"), 1),
        "modbus_requests_per_s": round((modbus1 - modbus0) / wall_s, 1),
        "mqtt_messages_per_s": round((mqtt1 - mqtt0) / wall_s, 1),
        "db_rows_per_s": round(sum(n for t, n in rows.items() if ":" not in t) / wall_s, 2),
        "db_rows_in_window": rows,
        "open_sessions": int(sessions),  # each records a meter value per sample interval
    }


async def _overload(site: E2ESite, limit_a: float, low_a: float) -> dict[str, Any]:
    """One building-load step sized from the grid's use now, so that it overloads the
    connection by a tenth of its limit however far the EVs have filled it (a busy host leaves
    chargers unanswered, and those count at their maximum: then the EVs fill it less); the
    grid's use and the EVs charging before the step, and whether the overload was seen."""
    charging_now = len(charging(await site.state()))
    used_a = await _grid_now(site)
    high_a = low_a + max(0.0, limit_a - used_a) + max(10.0, 0.1 * limit_a)
    assert high_a <= BASE_LOAD_MAX_A, f"a step of {high_a} A is beyond the simulator's bound"
    step = {"used_share": round(used_a / limit_a, 3), "charging": charging_now}
    await site.control.set_base_load(high_a, high_a, high_a)
    try:
        await eventually(lambda: _grid_above(site, limit_a, True), "overload seen", 5.0)
        await eventually(lambda: _grid_above(site, limit_a, False), "grid back under", 60.0)
    except AssertionError:
        return step | {"overloaded": False}
    finally:
        await asyncio.sleep(3.0)
        await site.control.set_base_load(low_a, low_a, low_a)
        # The simulator's meters show a new building load at its next physics step: the next
        # step must not be sized from this one's grid (it was, and missed the connection).
        await asyncio.sleep(2 * SIM_TICK_S)
    return step | {"overloaded": True}


async def _refilled(site: E2ESite, limit_a: float, share: float) -> float:
    """Wait (up to REFILL_WITHIN_S) until the EVs fill the connection again as far as they did
    in the steady window, so that each step lowers a site as full as the window's; the wait."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < REFILL_WITHIN_S:
        if await _grid_now(site) >= share * limit_a:
            break
        await asyncio.sleep(0.5)
    return loop.time() - started


async def _grid_now(site: E2ESite) -> float:
    """The grid meter's highest phase current, from the meter alone: the whole site's state
    takes the simulator ~20 ms to build at 1,000 connectors, and polled every 0.1 s while
    an overload was answered it held up the simulator's answers to the daemon."""
    meter = await site.control.meter("grid")
    return max(abs(float(v)) for v in meter["current_a"])


async def _grid_above(site: E2ESite, limit_a: float, above: bool) -> bool:
    return (await _grid_now(site) > limit_a) == above


async def _step(site: E2ESite, limit_a: float, window_share: float) -> dict[str, Any]:
    """One overload step once the EVs have refilled the connection (``_overload``)."""
    refill_s = await _refilled(site, limit_a, REFILL_SHARE * window_share)
    return await _overload(site, limit_a, 5.0) | {"refill_s": round(refill_s, 1)}


async def _reactions(
    site: E2ESite, limit_a: float, window_share: float, count: int = STEPS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The daemon's reaction times to ``count`` overload steps with the part of each spent
    waiting for the loop's step to begin, and each step's grid use, EVs charging and wait to
    refill."""
    steps = list[dict[str, Any]]()
    # A step whose overload the bench did not see (the EVs still falling from the last one, or
    # a rotation pausing some as the building rose) is made again, up to a quarter more steps.
    while sum(bool(s["overloaded"]) for s in steps) < count and len(steps) < count * 5 // 4:
        steps.append(await _step(site, limit_a, window_share))
    await asyncio.sleep(2.0)
    return _logged_reactions(site), steps


def _logged_reactions(site: E2ESite) -> list[dict[str, Any]]:
    """Every reaction the daemon has logged so far ("setpoints lowered"), in its order: the
    parts, the connector written last and the line's time (``at``, ISO 8601 UTC)."""
    found: list[dict[str, Any]] = []
    for log in sorted(site.workdir.glob("daemon-*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"setpoints lowered"' in line:
                logged = json.loads(line)
                parts: dict[str, Any] = {k: float(logged[k]) for k in REACTION_PARTS}
                found.append(
                    parts | {"last_connector": logged["last_connector"], "at": logged["timestamp"]}
                )
    return found


async def _measure(connectors: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    broker = Mosquitto(workdir)
    broker.start()
    config = generate_site(site_description(connectors, workdir, broker))
    limit_a = float(config["site"]["grid_limit_a"])
    site = E2ESite(workdir, workdir / "state", config)
    counter = _Counter()
    counting = asyncio.create_task(counter.run(broker))
    try:
        await site.start_sim()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await site.start_daemon(START_WITHIN_S)
        start_s = loop.time() - started
        await _steady(site, limit_a, connectors)
        figures = await _window(site, counter, limit_a)
        timed, steps = await _reactions(site, limit_a, figures["grid_used_share"])
        reactions_ms = sorted(r["reaction_ms"] for r in timed)
        waits_ms = sorted(r["waited_ms"] for r in timed)
    finally:
        counting.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await counting
        await site.close()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "connectors": connectors,
        "chargers": len(config["chargers"]),
        "buses": len(config["buses"]),
        "grid_limit_a": limit_a,
        "start_s": round(start_s, 1),
        **figures,
        "reaction_p50_ms": round(statistics.median(reactions_ms), 1) if reactions_ms else None,
        "reaction_p99_ms": round(percentile(reactions_ms, 0.99), 1) if reactions_ms else None,
        "reactions_timed": len(reactions_ms),
        # Of the reaction, the wait for the loop's step (one under way finishes first).
        "reaction_waited_p99_ms": round(percentile(waits_ms, 0.99), 1) if waits_ms else None,
        "grid_used_share_at_steps": min(s["used_share"] for s in steps),
        "steps_overloaded": sum(1 for s in steps if s["overloaded"]),
        "steps": steps,
        # Each timed reaction's parts, the setpoints it lowered, the longest one write took and
        # the connector written last (its link the longest), in the daemon's order.
        "reactions": [[*(r[k] for k in REACTION_PARTS), r["last_connector"]] for r in timed],
    }


def _verdicts(row: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{figure}_target_met": row[figure] is not None and row[figure] <= target
        for figure, target in TARGETS.get(row["connectors"], {}).items()
    }


def _earlier_rows() -> list[dict[str, Any]]:
    """The rows of sizes this run leaves out (SCALE_BENCH_SIZES), kept with their own time."""
    try:
        earlier = json.loads((RESULTS / "scale.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        row | {"measured_at": row.get("measured_at", earlier.get("at"))}
        for row in earlier.get("rows", [])
        if row.get("connectors") not in SIZES
    ]


def run() -> list[dict[str, Any]]:
    rows = _earlier_rows()
    for connectors in SIZES:
        row = asyncio.run(_measure(connectors))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rows.append(row | _verdicts(row) | {"measured_at": stamp})
    rows.sort(key=lambda r: int(r["connectors"]))
    xs = [float(r["connectors"]) for r in rows]
    for figure in PLOTTED:
        ys = [float(r[figure]) if r[figure] is not None else float("nan") for r in rows]
        write_plot(RESULTS / f"scale-{figure}.svg", figure, xs, ys)
        write_png(RESULTS / f"scale-{figure}.png", figure, xs, ys)
    return rows
