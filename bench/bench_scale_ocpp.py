"""One gateway with OCPP on at 10, 100 and 1,000 connectors: the real ``edge-controller run``
against a generated site, the simulator, a real Mosquitto and the bench CSMS
(``edge-controller csms``), each in a process of its own, so the CSMS's CPU is measured apart
from the daemon's.

The site: single-connector CHARX controllers, eight behind each Modbus TCP address, so that
``per_charger`` gives one OCPP identity (one websocket) per connector: 1,000 websockets at 1,000
connectors. The same site runs a second time as one station of many EVSEs (``site``: one
identity, connectors 1..N). OCPP 1.6 at the default sampling (MeterValueSampleInterval 60 s,
ClockAlignedDataInterval 900 s, heartbeat 300 s); every connector gets an EV within 30 s, free
vend starts a session on each.

Per row:
- ``connect_all_s``: from the daemon's start until every identity is connected to the CSMS;
- a steady window (``SCALE_OCPP_WINDOW_S``, two sample intervals by default): CALLs/s the CSMS
  took in (``ocpp_in_per_s``) and frames it sent back (``ocpp_out_per_s``), CPU share of one core
  and RSS of the daemon and of the CSMS;
- steady RSS (``rss_steady_mb``): once every Modbus device has answered ``LATENCY_SAMPLES``
  requests (its latency window full, the pollers' smaller ones before it) and
  ``STEADY_SETTLE_S`` after that, at ``rss_steady_at_s`` from the daemon's start; the window's
  ``daemon_rss_mb`` comes minutes earlier, while the windows still fill;
- backlog replay: the CSMS sets MeterValueSampleInterval to 6 s (``SCALE_OCPP_OUTAGE_SAMPLE_S``)
  on every identity, waits for an empty outbox, then goes away for ``SCALE_OCPP_OUTAGE_S``
  (60 s: the messages of a 10-minute outage at the default 60 s) and comes back on the same
  port: ``reconnect_all_s`` until every identity is back, ``drain_s`` from then until every
  message queued by the end of the outage is sent (``replay_s`` the two together: the
  identities back first drain meanwhile), the rates and the CPU per replayed message on both
  sides. Not until the outbox is empty: at 1,000 identities samples keep coming, and one
  waits for its sender at almost any moment. The outbox's record size comes from the
  database;
- reactions with OCPP on: after the steady reading, ``SCALE_OCPP_STEPS`` overload steps of
  ``bench_scale`` (its steps and its measure: the daemon's own timing from the overloading grid
  reading to the last lowered setpoint written), ``reaction_p50_ms``, ``reaction_p99_ms``,
  ``reactions_timed`` and the wait for the loop's step (``reaction_waited_p99_ms``);
- reactions during a replay: after the measured replay the CSMS goes away again for as long,
  ``SCALE_OCPP_REPLAY_OUTAGES`` times, and from each return until that outage's messages are
  sent the same steps follow each other (``reaction_replay_p50_ms``, ``reaction_replay_p99_ms``,
  ``reactions_replay_timed``, ``replay_steps``: a reaction counts when its overloading reading
  came before the last message was sent). Apart from the measured replay, so that its CPU per
  message holds no reaction's work.
Rows go to bench/results/scale_ocpp.json (``bench_scale`` keeps scale.json: OCPP off), one SVG
and one PNG plot per figure and topology against the connector count. A run that cannot finish
keeps what it measured and says what failed (``failed``).
``SCALE_OCPP_SIZES`` and ``SCALE_OCPP_TOPOLOGIES`` shorten a run; rows left out are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench import bench_scale
from bench.bench_scale import REACTION_PARTS, _logged_reactions, _reactions, _step
from bench.png_plot import write_png
from bench.procstat import CpuWindow, open_fds, status_mb
from bench.svg_plot import write_plot
from edge_controller.api.client import DaemonNotRunning
from edge_controller.domain.snapshot import DeviceView
from edge_controller.drivers.modbus.stats import LATENCY_SAMPLES, percentile
from edge_controller.sim.generate import generate_site
from tests.e2e.checks import grid_a, plugged
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.procs import Proc
from tests.integration.mqtt.broker import PREFIX, Mosquitto
from tests.ports import free_port

SIZES = tuple(int(n) for n in os.environ.get("SCALE_OCPP_SIZES", "10,100,1000").split(","))
TOPOLOGIES = tuple(os.environ.get("SCALE_OCPP_TOPOLOGIES", "per_charger,site").split(","))
SAMPLE_S = 60  # the default MeterValueSampleInterval
WINDOW_S = float(os.environ.get("SCALE_OCPP_WINDOW_S", str(2 * SAMPLE_S)))
OUTAGE_S = float(os.environ.get("SCALE_OCPP_OUTAGE_S", "60"))
# 60 s of outage at 6 s carries the samples of 10 minutes at 60 s (SCALE_OCPP_OUTAGE_SAMPLE_S)
OUTAGE_SAMPLE_S = int(os.environ.get("SCALE_OCPP_OUTAGE_SAMPLE_S", "6"))
ARRIVE_WITHIN_S = 30.0
START_WITHIN_S = 300.0
DRAIN_WITHIN_S = 900.0
STEADY_WITHIN_S = float(os.environ.get("SCALE_OCPP_STEADY_WITHIN_S", "900"))
STEADY_SETTLE_S = 30.0
STEADY_POLL_S = 5.0  # how often the steady wait asks for the status
# Overload steps timed once steady (bench_scale's, and its count by default).
STEPS = int(os.environ.get("SCALE_OCPP_STEPS", str(bench_scale.STEPS)))
REPLAY_OUTAGES = int(os.environ.get("SCALE_OCPP_REPLAY_OUTAGES", "3"))
RESULTS = Path(__file__).parent / "results"
PLOTTED = (
    "daemon_cpu_share_of_core",
    "daemon_rss_mb",
    "ocpp_in_per_s",
    "connect_all_s",
    "reaction_p99_ms",
    "drain_per_s",
    "csms_cpu_share_of_core",
)


def _port_block(count: int) -> int:
    """The first of ``count`` consecutive loopback ports free now, below the test processes'
    blocks (tests/ports.py) and the kernel's ephemeral range."""
    for _ in range(50):
        first = random.randrange(12000, 19500 - count)
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


def site_description(
    connectors: int, topology: str, workdir: Path, broker: Mosquitto, csms_port: int
) -> dict[str, Any]:
    limit_a = min(6300, max(40, 3 * connectors))
    return {
        "generate": {
            "first_port": _port_block(2 + connectors // 8),
            "charx": {"controllers": connectors, "connectors": 1, "per_gateway": 8},
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
            "id": f"ocpp{connectors}",
            "grid_limit_a": limit_a,
            "tick_s": 1.0,
            "increase_interval_s": 1,
            "shutdown_grace_s": 3,
            "min_pause_s": 10,
            "min_charge_s": 10,
        },
        "ocpp": {
            "enabled": True,
            "url": f"ws://127.0.0.1:{csms_port}",
            "identity": f"ocpp{connectors}",
            "topology": topology,
            "version": "1.6",
            # The drain is measured from the reconnect; a short back-off keeps the run short.
            "reconnect_max_s": 5,
            "authorization": {"free_vend_id_tag": "BENCH-FREE"},
        },
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
            "tick_s": 0.5,
            "base_load": [{"at": "00:00", "current_a": [5, 5, 5]}],
            "ev_profiles": {
                "compact": {"phases": 3, "max_current_a": 16, "response_delay_s": 1},
                "van": {"phases": 3, "max_current_a": 32, "response_delay_s": 1},
            },
        },
    }


class Csms:
    """The bench CSMS process and its HTTP control interface."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.proc: Proc | None = None
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    def start(self) -> None:
        args = [sys.executable, "-m", "edge_controller", "csms", "--port", str(self.port),
                "--versions", "1.6"]  # fmt: skip
        self.proc = Proc("csms", args, self.workdir / "csms.log")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill(signal.SIGKILL)  # the CSMS vanishes, as in an outage
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stats(self) -> dict[str, int]:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with self._http.get(f"http://127.0.0.1:{self.port}/stats") as answer:
                    stats: dict[str, int] = await answer.json()
                    return stats
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the bench CSMS does not answer\n{self.proc and self.proc.tail()}")

    async def send(self, identity: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        query = {"identity": identity, "action": action, "payload": json.dumps(payload)}
        url = f"http://127.0.0.1:{self.port}/send"
        for attempt in range(2):
            try:
                async with self._http.get(url, params=query) as answer:
                    result: dict[str, Any] = await answer.json()
                    return result
            except aiohttp.ServerDisconnectedError:
                # A kept-alive connection the CSMS closed as it was reused (after the steady
                # window's idle minutes): the commands sent here may be sent again.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self.stop()
        await self._http.close()


async def _all_connected(csms: Csms, identities: int, within_s: float) -> float:
    async def connected() -> bool:
        return (await csms.stats())["connected"] >= identities

    return await eventually(connected, f"{identities} identities connected", within_s)


async def _set_sampling(csms: Csms, identities: list[str], interval_s: int) -> None:
    limit = asyncio.Semaphore(16)
    payload = {"key": "MeterValueSampleInterval", "value": str(interval_s)}

    async def one(identity: str) -> None:
        async with limit:
            answer = await csms.send(identity, "ChangeConfiguration", payload)
            if answer.get("status") != "Accepted":
                raise RuntimeError(f"{identity}: ChangeConfiguration answered {answer}")

    await asyncio.gather(*(one(i) for i in identities))


async def _backlog(site: E2ESite) -> int:
    return (await site.status()).outbox_backlog


def _record_bytes(site: E2ESite) -> float:
    """Bytes per outbox row: its payload and fixed columns, as SQLite stores them."""
    ((avg,),) = site.query(
        "SELECT avg(length(body) + length(identity) + length(event) + length(kind) + 48) "
        "FROM outbox"
    )
    return round(float(avg or 0.0), 1)


def _db_bytes(site: E2ESite) -> int:
    files = [site.db_path, site.db_path.with_name(site.db_path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


async def _window(site: E2ESite, csms: Csms, limit_a: float) -> dict[str, float]:
    assert site.daemon is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    daemon, central = CpuWindow(site.daemon.pid, started), CpuWindow(csms.pid, started)
    before = await csms.stats()
    await asyncio.sleep(WINDOW_S)
    after = await csms.stats()
    now = loop.time()
    wall_s = now - started
    state = await site.state()
    return {
        # How full the EVs keep the connection: each overload step waits for them to refill it.
        "grid_used_share": round(max(grid_a(state)) / limit_a, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "daemon_cpu_share_of_core": round(daemon.share(now), 3),
        "daemon_rss_mb": round(status_mb(site.daemon.pid, "VmRSS"), 1),
        "daemon_open_fds": open_fds(site.daemon.pid),
        "csms_cpu_share_of_core": round(central.share(now), 3),
        "csms_rss_mb": round(status_mb(csms.pid, "VmRSS"), 1),
        "ocpp_in_per_s": round((after["calls"] - before["calls"]) / wall_s, 2),
        "ocpp_out_per_s": round((after["frames_out"] - before["frames_out"]) / wall_s, 2),
    }


def windows_full(devices: tuple[DeviceView, ...]) -> bool:
    """Every device has answered enough requests to fill its latency window (a failed request
    counts among its requests but adds nothing to the window)."""
    return bool(devices) and min(answered(d) for d in devices) >= LATENCY_SAMPLES


def answered(device: DeviceView) -> int:
    return device.requests - sum(device.errors.values())


async def _steady(site: E2ESite, daemon_started_s: float) -> dict[str, float]:
    assert site.daemon is not None
    loop = asyncio.get_running_loop()
    waited_from_s = loop.time()
    # Asked every few seconds: at 1,000 connectors a status takes 0.3-0.8 s, and asking again
    # at once would keep the daemon answering for the whole wait, in its CPU and its RSS.
    while not windows_full((await site.status()).devices):
        if loop.time() - waited_from_s > STEADY_WITHIN_S:
            raise AssertionError(f"not every device's latency window full in {STEADY_WITHIN_S} s")
        await asyncio.sleep(STEADY_POLL_S)
    await asyncio.sleep(STEADY_SETTLE_S)
    return {
        "rss_steady_mb": round(status_mb(site.daemon.pid, "VmRSS"), 1),
        "rss_steady_at_s": round(asyncio.get_running_loop().time() - daemon_started_s),
    }


async def _replay(site: E2ESite, csms: Csms, identities: list[str]) -> dict[str, Any]:
    assert site.daemon is not None
    await _set_sampling(csms, identities, OUTAGE_SAMPLE_S)
    await asyncio.sleep(OUTAGE_SAMPLE_S + 2)  # each session's next sample comes at the new pace
    # Every message queued so far sent, not an empty outbox: at 1,000 identities samples keep
    # coming, and one is waiting for its sender at almost any moment the outbox is read.
    before = _last_seq(site)
    await eventually(lambda: _sent_up_to(site, before), "outbox sent before the outage", 120)
    db0 = _db_bytes(site)
    csms.stop()
    await asyncio.sleep(OUTAGE_S)
    queued, db1, last = await _backlog(site), _db_bytes(site), _last_seq(site)
    loop = asyncio.get_running_loop()
    daemon = CpuWindow(site.daemon.pid, loop.time())
    csms.start()
    central = CpuWindow(csms.pid, loop.time())
    reconnect_s = await _all_connected(csms, len(identities), DRAIN_WITHIN_S)
    left = _pending_up_to(site, last)
    drain_s = await eventually(
        lambda: _sent_up_to(site, last), "the outage's messages sent", DRAIN_WITHIN_S
    )
    drained = queued  # every message queued by the end of the outage, and those meanwhile
    return {
        "outage_messages": queued,
        "outage_db_growth_bytes_per_message": round((db1 - db0) / queued, 1) if queued else None,
        "outbox_record_bytes": _record_bytes(site),
        "reconnect_all_s": round(reconnect_s, 1),
        "backlog_at_reconnect": left,
        "drain_s": round(drain_s, 1),
        "drain_per_s": round(left / drain_s, 1) if drain_s > 0 else None,
        # From the CSMS's return to an empty outbox: identities back early drain meanwhile.
        "replay_s": round(reconnect_s + drain_s, 1),
        "replay_per_s": round(queued / (reconnect_s + drain_s), 1),
        "replay_daemon_cpu_ms_per_message": round(1000 * daemon.used_s() / drained, 2)
        if drained
        else None,
        "replay_csms_cpu_ms_per_message": round(1000 * central.used_s() / drained, 2)
        if drained
        else None,
        "daemon_peak_rss_mb": round(status_mb(site.daemon.pid, "VmHWM"), 1),
    }


async def _timed(site: E2ESite, limit_a: float, window_share: float) -> dict[str, Any]:
    """bench_scale's overload steps and reaction times, once steady."""
    first = len(_logged_reactions(site))  # any lowering of the EVs' arrival is no step's
    timed, steps = await _reactions(site, limit_a, window_share, STEPS)
    return _reaction_figures(timed[first:], "reaction") | {
        "grid_used_share_at_steps": min(s["used_share"] for s in steps),
        "steps_overloaded": sum(1 for s in steps if s["overloaded"]),
        "load_after_steps_1min": round(os.getloadavg()[0], 2),
    }


def _reaction_figures(timed: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The reactions' p50 and p99, how many, the p99 of their wait for the loop's step, and
    each one's parts as bench_scale lists them."""
    reactions_ms = sorted(r["reaction_ms"] for r in timed)
    waits_ms = sorted(r["waited_ms"] for r in timed)
    plural = name.replace("reaction", "reactions", 1)
    return {
        f"{name}_p50_ms": round(statistics.median(reactions_ms), 1) if timed else None,
        f"{name}_p99_ms": round(percentile(reactions_ms, 0.99), 1) if timed else None,
        f"{plural}_timed": len(timed),
        f"{name}_waited_p99_ms": round(percentile(waits_ms, 0.99), 1) if timed else None,
        plural: [[*(r[k] for k in REACTION_PARTS), r["last_connector"]] for r in timed],
    }


async def _replay_reactions(
    site: E2ESite, csms: Csms, identities: list[str], limit_a: float, window_share: float
) -> dict[str, Any]:
    """``REPLAY_OUTAGES`` more outages as long as the first, each with overload steps one after
    the other from the CSMS's return until its messages are sent: the reactions while the
    backlog drains (a replay takes seconds, a step five or more)."""
    timed, steps = list[dict[str, Any]](), 0
    for _ in range(REPLAY_OUTAGES):
        found, made = await _reactions_in_replay(site, csms, identities, limit_a, window_share)
        timed, steps = timed + found, steps + made
    return _reaction_figures(timed, "reaction_replay") | {"replay_steps": steps}


async def _reactions_in_replay(
    site: E2ESite, csms: Csms, identities: list[str], limit_a: float, window_share: float
) -> tuple[list[dict[str, Any]], int]:
    before = _last_seq(site)
    await eventually(lambda: _sent_up_to(site, before), "outbox sent before the outage", 120)
    csms.stop()
    await asyncio.sleep(OUTAGE_S)
    last, first = _last_seq(site), len(_logged_reactions(site))
    replaying = asyncio.Event()
    replaying.set()
    stepping = asyncio.create_task(_steps_while(site, limit_a, window_share, replaying))
    csms.start()
    try:
        await _all_connected(csms, len(identities), DRAIN_WITHIN_S)
        await eventually(lambda: _sent_up_to(site, last), "the outage's messages sent", 900)
        sent_at = datetime.now(UTC)
    finally:
        replaying.clear()
        steps = await stepping
    await asyncio.sleep(2.0)
    return [r for r in _logged_reactions(site)[first:] if read_by(r, sent_at)], len(steps)


def read_by(reaction: dict[str, Any], moment: datetime) -> bool:
    """The reaction's overloading reading came by ``moment``: its line is logged when the
    last setpoint is written, ``reaction_ms`` after the reading."""
    logged_at = datetime.fromisoformat(reaction["at"])
    return logged_at - timedelta(milliseconds=reaction["reaction_ms"]) <= moment


async def _steps_while(
    site: E2ESite, limit_a: float, window_share: float, going: asyncio.Event
) -> list[dict[str, Any]]:
    """Overload steps one after the other while ``going`` is set; the one under way when it
    is cleared is finished (not cancelled: it puts the building load back)."""
    steps = []
    while going.is_set():
        steps.append(await _step(site, limit_a, window_share))
    return steps


def _last_seq(site: E2ESite) -> int:
    ((seq,),) = site.query("SELECT coalesce(max(seq), 0) FROM outbox")
    return int(seq)


def _pending_up_to(site: E2ESite, seq: int) -> int:
    """Messages up to ``seq`` not sent yet (the database's rows: an ack is marked in them
    within a moment of its journal)."""
    ((count,),) = site.query(
        "SELECT count(*) FROM outbox WHERE state = 'pending' AND seq <= ?", (seq,)
    )
    return int(count)


async def _sent_up_to(site: E2ESite, seq: int) -> bool:
    return _pending_up_to(site, seq) == 0


async def _measure(connectors: int, topology: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-ocpp-"))
    broker = Mosquitto(workdir)
    broker.start()
    csms = Csms(workdir, free_port())
    config = generate_site(site_description(connectors, topology, workdir, broker, csms.port))
    identities = list(config["chargers"]) if topology == "per_charger" else [f"ocpp{connectors}"]
    limit_a = float(config["site"]["grid_limit_a"])
    site = E2ESite(workdir, workdir / "state", config)
    row: dict[str, Any] = {"connectors": connectors, "topology": topology}
    row |= {"websockets": len(identities), "outage_sample_s": OUTAGE_SAMPLE_S}
    try:
        csms.start()
        await csms.stats()
        await site.start_sim()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await site.start_daemon(START_WITHIN_S)
        row["start_s"] = round(loop.time() - started, 1)
        connect_s = await _all_connected(csms, len(identities), START_WITHIN_S)
        row["connect_all_s"] = round(row["start_s"] + connect_s, 1)
        await _plugged(site, connectors)
        row |= await _window(site, csms, limit_a)
        row |= await _steady(site, started)
        row |= await _timed(site, limit_a, row["grid_used_share"])
        row |= await _replay(site, csms, identities)
        row |= await _replay_reactions(site, csms, identities, limit_a, row["grid_used_share"])
    except (AssertionError, RuntimeError, OSError, DaemonNotRunning) as exc:
        # A size the machine cannot carry is a result too: what was measured, and what failed.
        row["failed"] = str(exc)[:300]
    finally:
        await site.close()
        await csms.close()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return row


async def _plugged(site: E2ESite, connectors: int) -> None:
    async def arrived() -> bool:
        return len(plugged(await site.state())) == connectors

    await eventually(arrived, "every EV plugged in", ARRIVE_WITHIN_S + 60)

    async def sessions() -> bool:
        view = await site.status()
        return sum(1 for c in view.connectors if c.session_id) == connectors

    await eventually(sessions, "a session on every connector", START_WITHIN_S)
    await asyncio.sleep(SAMPLE_S / 2)  # starts and status changes settle


def _earlier_rows(path: Path) -> list[dict[str, Any]]:
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        row | {"measured_at": row.get("measured_at", earlier.get("at"))}
        for row in earlier.get("rows", [])
        if row.get("connectors") not in SIZES or row.get("topology") not in TOPOLOGIES
    ]


def run() -> list[dict[str, Any]]:
    rows = _earlier_rows(RESULTS / "scale_ocpp.json")
    for topology in TOPOLOGIES:
        for connectors in SIZES:
            row = asyncio.run(_measure(connectors, topology))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            rows.append(row | {"measured_at": stamp})
            print(json.dumps(rows[-1]), flush=True)
    rows.sort(key=lambda r: (str(r["topology"]), int(r["connectors"])))
    plot(rows)
    return rows


def plot(rows: list[dict[str, Any]]) -> None:
    """One SVG and one PNG per figure and topology against the connector count."""
    for topology in {str(r["topology"]) for r in rows}:
        mine = [r for r in rows if r["topology"] == topology]
        xs = [float(r["connectors"]) for r in mine]
        for figure in PLOTTED:
            ys = [float(r[figure]) if r.get(figure) is not None else float("nan") for r in mine]
            if all(math.isnan(y) for y in ys):
                continue  # a figure no row of this topology has (reactions not timed)
            name, title = f"scale_ocpp-{topology}-{figure}", f"{figure} ({topology})"
            write_plot(RESULTS / f"{name}.svg", title, xs, ys)
            write_png(RESULTS / f"{name}.png", title, xs, ys)
