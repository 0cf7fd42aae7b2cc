"""SIGHUP on the daemon process: the config is read off the event loop (the watchdog keeps being
pinged), a hostile file is refused with its reason and READY=1 always follows RELOADING=1, and
logging changes reach every logger, also those bound before the reload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.foundation.test_daemon_process import NotifySocket, finish, start

pytestmark = pytest.mark.integration

CONFIG = """\
site:
  id: reload-test
  grid_limit_a: 32
  tick_s: 0.1
  shutdown_grace_s: 5
storage:
  state_dir: {state}
logging:
  level: {level}
  format: {fmt}
"""


class TimedNotifySocket(NotifySocket):
    """Keeps when each notification arrived (monotonic), to see what happened during a reload."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096).decode()
            except (TimeoutError, OSError):
                continue
            self.times.append(time.monotonic())
            self.messages.append(data)

    def wait_for(self, text: str, timeout_s: float = 15.0, after: int = 0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in m for m in self.messages[after:]):
                return self.messages
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} from the daemon; got {self.messages[after:]}")

    def index_of(self, text: str, after: int = 0) -> int:
        return next(i for i in range(after, len(self.messages)) if text in self.messages[i])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[TimedNotifySocket]:
    sock = TimedNotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def config_text(tmp_path: Path, level: str = "info", fmt: str = "json") -> str:
    return CONFIG.format(state=tmp_path / "state", level=level, fmt=fmt)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Daemons started by a test, killed if the test left one running (a failed reload)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def running(
    tmp_path: Path, notify: TimedNotifySocket, text: str, procs: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    config = tmp_path / "site.yaml"
    config.write_text(text)
    proc = start(config, notify)
    procs.append(proc)
    notify.wait_for("READY=1")
    notify.wait_for("WATCHDOG=1")
    return proc


def reload(proc: subprocess.Popen[str], notify: TimedNotifySocket) -> int:
    """Send SIGHUP and wait for READY=1 after RELOADING=1; returns where RELOADING=1 is."""
    seen = len(notify.messages)
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", after=seen)
    reloading = notify.index_of("RELOADING=1", seen)
    notify.wait_for("READY=1", after=reloading)
    return reloading


def test_watchdog_is_pinged_while_a_reload_waits_for_its_file(
    tmp_path: Path, notify: TimedNotifySocket, procs: list[subprocess.Popen[str]]
) -> None:
    """The config path becomes a FIFO nobody writes to yet: the reload waits as on a hung disk.
    Before reloads ran off the event loop, the loop stopped (no WATCHDOG=1) until it was read."""
    text = config_text(tmp_path)
    proc = running(tmp_path, notify, text, procs)
    config = tmp_path / "site.yaml"
    config.unlink()
    os.mkfifo(config)
    seen = len(notify.messages)
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", after=seen)
    reloading = notify.index_of("RELOADING=1", seen)
    time.sleep(2.0)  # the reload is stuck in open() of the FIFO meanwhile
    during = [m for m in notify.messages[reloading:] if "WATCHDOG=1" in m]
    assert not any("READY=1" in m for m in notify.messages[reloading:])
    with config.open("w") as fifo:  # now the reload can read it
        fifo.write(text.replace("level: info", "level: debug"))
    notify.wait_for("READY=1", after=reloading)
    code, out, _ = finish(proc)
    assert code == 0
    assert len(during) >= 5, f"only {len(during)} watchdog pings in 2 s of reloading"
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    reloaded = [e for e in lines if e["event"] == "config reloaded"]
    assert reloaded and reloaded[0]["applied"] == ["logging.level"]


def _bomb(levels: int) -> bytes:
    lines = ["site: {id: reload-test, grid_limit_a: 32}", "x0: &a0 [a, a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return ("\n".join(lines) + "\n").encode()


HOSTILE = {
    "non_utf8": ("site:\n  id: reload-test\n# Größe\n".encode("latin-1"), "not UTF-8"),
    "alias_bomb": (_bomb(8), "more than 200,000 values"),
    "deep_nesting": (b"site: {id: s}\nx: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "nest"),
    "huge_integer": (b"site: {id: s, grid_limit_a: " + b"9" * 4400 + b"}\n", "4400 characters"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_on_sighup_is_refused_and_ready_follows(
    tmp_path: Path, notify: TimedNotifySocket, name: str, procs: list[subprocess.Popen[str]]
) -> None:
    content, reason = HOSTILE[name]
    text = config_text(tmp_path)
    proc = running(tmp_path, notify, text, procs)
    config = tmp_path / "site.yaml"
    config.write_bytes(content)
    refused_at = reload(proc, notify)
    assert proc.poll() is None
    # A good file is taken again afterwards ("32" may be in the path too).
    config.write_text(text.replace("grid_limit_a: 32", "grid_limit_a: 40"))
    taken_at = reload(proc, notify)

    def ready_after(index: int) -> str:
        return next(m for m in notify.messages[index:] if "READY=1" in m)

    assert ready_after(refused_at).endswith("STATUS=running (reload refused)")
    assert ready_after(taken_at).endswith("STATUS=running")
    code, out, _ = finish(proc)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    (refused,) = [e for e in lines if str(e["event"]).startswith("reload refused")]
    assert reason in str(refused["problems"]) and "(line " in str(refused["problems"])
    (reloaded,) = [e for e in lines if e["event"] == "config reloaded"]
    assert reloaded["needs_restart"] == ["site.grid_limit_a"]
    assert not [e for e in lines if e["event"] == "reload failed; keeping the running config"]


def test_sighup_changes_level_and_format_of_loggers_bound_before(
    tmp_path: Path, notify: TimedNotifySocket, procs: list[subprocess.Popen[str]]
) -> None:
    text = config_text(tmp_path, level="info", fmt="json")
    proc = running(tmp_path, notify, text, procs)
    config = tmp_path / "site.yaml"
    config.write_text(config_text(tmp_path, level="debug", fmt="json"))
    reload(proc, notify)
    reload(proc, notify)  # reads the file again: the config module's logger speaks at debug
    config.write_text(config_text(tmp_path, level="debug", fmt="console"))
    reload(proc, notify)
    code, out, _ = finish(proc)
    assert code == 0
    lines = out.splitlines()
    switch = next(i for i, line in enumerate(lines) if "applied=['logging.format']" in line)
    as_json = [json.loads(line) for line in lines[:switch]]  # up to the switch: all JSON
    # A logger bound at import (edge_controller.config.load) logs at debug after the first reload.
    debug = [e for e in as_json if e["level"] == "debug" and e["component"] == "config"]
    assert debug and debug[0]["event"] == "config read"
    assert not [e for e in as_json[:2] if e["level"] == "debug"]
    # Lines after the switch are text, also from the daemon's logger bound at its start.
    after = lines[switch:]
    assert after and not any(line.startswith("{") for line in after), after
    assert any("stopped" in line and "component=daemon" in line for line in after)


def test_stopping_during_a_stuck_reload_stops_in_order_and_leaves_no_reader(
    tmp_path: Path, notify: TimedNotifySocket, procs: list[subprocess.Popen[str]]
) -> None:
    proc = running(tmp_path, notify, config_text(tmp_path), procs)
    config = tmp_path / "site.yaml"
    config.unlink()
    os.mkfifo(config)  # nobody ever writes: the reader waits forever
    seen = len(notify.messages)
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", after=seen)
    code, out, _ = finish(proc)  # SIGTERM
    assert code == 0
    assert "stopped" in out.splitlines()[-1]
    readers = subprocess.run(
        ["pgrep", "-f", f"edge_controller.config.reader_process {config}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert readers.stdout.strip() == ""
