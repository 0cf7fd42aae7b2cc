"""One end-to-end site: its config on disk, the simulator process and the daemon process.

``E2ESite`` starts the real ``edge-controller simulate`` and ``edge-controller run`` commands on
the same config, talks to the simulator's control API and the daemon's status socket, and reads
the daemon's SQLite database read-only. ``close()`` kills whatever is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edge_controller.api.client import DaemonNotRunning, fetch_status
from edge_controller.api.server import STATUS_SOCKET
from edge_controller.domain.snapshot import Availability, SiteView
from edge_controller.sim.control_client import SimControlClient
from tests.e2e.checks import describe
from tests.e2e.procs import START_TIMEOUT_S, Proc, edge_controller, wait_control_url
from tests.e2e.site import write_config

WAIT_S = 20.0  # default bound for "eventually": generous, the machine is shared and noisy


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, within_s: float = WAIT_S
) -> float:
    """Poll ``check`` until it holds; returns the seconds it took (for benchmarks)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await check():
        if loop.time() - started > within_s:
            raise AssertionError(f"not reached within {within_s:g} s: {what}")
        await asyncio.sleep(0.1)
    return loop.time() - started


class E2ESite:
    def __init__(self, workdir: Path, state_dir: Path, config: dict[str, Any]) -> None:
        self.workdir, self.state_dir, self.config = workdir, state_dir, config
        self.config_path = write_config(config, workdir / "site.yaml")
        self.sim: Proc | None = None
        self.daemon: Proc | None = None
        self.daemons: list[Proc] = []  # every daemon process started, for the logs
        self._control: SimControlClient | None = None
        self._starts = 0

    @property
    def control(self) -> SimControlClient:
        assert self._control is not None, "start_sim() first"
        return self._control

    @property
    def db_path(self) -> Path:
        return self.state_dir / "edge.db"

    async def start_sim(self) -> None:
        self.sim = edge_controller("simulate", self.config_path, "sim", self.workdir / "sim.log")
        url = await asyncio.to_thread(wait_control_url, self.sim)
        self._control = SimControlClient(url, timeout_s=10.0)
        await self._control.__aenter__()

    async def start_daemon(
        self, within_s: float = START_TIMEOUT_S, module: tuple[str, ...] = ()
    ) -> None:
        """Start the daemon (run by ``module``, see ``edge_controller``) and wait until it
        sees every connector."""
        self._starts += 1
        log_path = self.workdir / f"daemon-{self._starts}.log"
        self.daemon = edge_controller("run", self.config_path, "daemon", log_path, module)
        self.daemons.append(self.daemon)
        await eventually(self._daemon_up, "daemon answers with every connector", within_s)

    async def _daemon_up(self) -> bool:
        assert self.daemon is not None
        if not self.daemon.alive():
            raise AssertionError(f"the daemon exited\n{self.daemon.tail()}")
        try:
            view = await self.status()
        except DaemonNotRunning:
            return False
        seen = [c for c in view.connectors if c.availability is not Availability.UNAVAILABLE]
        return len(seen) == self.connector_count  # a connector not read yet is not in the view

    @property
    def connector_count(self) -> int:
        return sum(int(c.get("connectors", 1)) for c in self.config["chargers"].values())

    async def stop_daemon(self, within_s: float = WAIT_S) -> int:
        """SIGTERM, then wait for the exit without blocking the event loop (a CSMS running in
        the test must go on answering while the daemon shuts down); returns the exit code."""
        assert self.daemon is not None
        daemon = self.daemon
        daemon.send(signal.SIGTERM)

        async def exited() -> bool:
            return not daemon.alive()

        await eventually(exited, "the daemon stopped", within_s)
        self.kill_daemon()  # reaps it and whatever is left of its process group
        return int(daemon.popen.returncode)

    def kill_daemon(self, sig: signal.Signals = signal.SIGKILL) -> None:
        assert self.daemon is not None
        self.daemon.kill(sig)
        self.daemon = None

    async def status(self) -> SiteView:
        return await fetch_status(self.state_dir / STATUS_SOCKET, timeout_s=5.0)

    async def state(self) -> dict[str, Any]:
        return await self.control.state()

    async def plug_all(self, connectors: tuple[str, ...], profile: Callable[[str], str]) -> None:
        for cid in connectors:
            await self.control.plug(cid, profile=profile(cid))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows from the daemon's database, opened read-only (the daemon keeps writing)."""
        uri = f"file:{self.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10.0)) as conn:
            return conn.execute(sql, params).fetchall()

    async def explain(self) -> str:
        """The simulator's truth and the daemon's view with reasons, for failure messages."""
        parts = []
        with contextlib.suppress(Exception):  # whatever still answers
            parts.append(f"sim: {describe(await self.state())}")
        with contextlib.suppress(Exception):
            view = await self.status()
            reasons = [
                (c.connector_id, c.offered_current_a, c.limit_reason) for c in view.connectors
            ]
            parts.append(f"daemon: grid {view.grid_current_a} {reasons}")
        return "\n".join(parts)

    async def close(self) -> None:
        if self._control is not None:
            await self._control.close()
        for proc in self.daemons:
            proc.kill()
        if self.sim is not None:
            self.sim.stop()

    def logs(self) -> str:
        procs = [p for p in [self.sim, *self.daemons] if p is not None]
        return "\n".join(p.tail() for p in procs)
