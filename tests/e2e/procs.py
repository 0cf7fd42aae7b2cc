"""The daemon and the simulator as real processes: start, wait until ready, kill.

Every process writes its log to a file next to the config; ``tail()`` shows it when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 30.0  # two Python processes importing everything on a busy 2-core machine
_CONTROL_URL = re.compile(r"control_url[\"=:\s]+\"?(http://[0-9.]+:[0-9]+)")


class Proc:
    """One child process with its log file; ``kill()`` is safe to call more than once."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name, self.log_path = name, log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
        with log_path.open("ab") as log:
            # Its own process group: whatever it starts (socat) can be stopped with it.
            self.popen = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, sig)

    def kill(self, sig: signal.Signals = signal.SIGKILL, wait_s: float = 15.0) -> None:
        """Send ``sig`` (SIGKILL: a crash), reap the process, then kill what is left of its
        process group (children it could not stop)."""
        self.send(sig)
        try:
            self.popen.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def stop(self) -> None:
        """An orderly stop (SIGINT: the asyncio program unwinds and stops its children)."""
        self.kill(signal.SIGINT, wait_s=10.0)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} log ({self.log_path}) ---\n{self.log_text()[-chars:]}"


def edge_controller(
    command: str, config: Path, name: str, log_path: Path, module: tuple[str, ...] = ()
) -> Proc:
    """``module``: a module (and its arguments) that runs the command instead of the package's
    own entry point."""
    runner = module or ("edge_controller",)
    args = [sys.executable, "-m", *runner, command, "--config", str(config)]
    return Proc(name, args, log_path)


def wait_control_url(sim: Proc, timeout_s: float = START_TIMEOUT_S) -> str:
    """The simulator's control interface address, from its ``sim_ready`` log line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = sim.log_text()
        if "sim_ready" in text and (match := _CONTROL_URL.search(text)):
            return match.group(1)
        if not sim.alive():
            raise RuntimeError(f"the simulator exited\n{sim.tail()}")
        time.sleep(0.05)
    raise RuntimeError(f"the simulator did not get ready\n{sim.tail()}")
