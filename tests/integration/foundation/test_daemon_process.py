"""The daemon as a process: sd_notify, signals, reload, exit codes, JSON logs without secrets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CONFIG = """\
site:
  id: proc-test
  grid_limit_a: 32
  tick_s: 0.1
  shutdown_grace_s: 5
mqtt:
  password: {secret}
storage:
  state_dir: {state}
logging:
  level: {level}
"""
SECRET = "pa55-w0rd-never-logged"


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, text: str, timeout_s: float = 15.0, after: int = 0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in m for m in self.messages[after:]):
                return self.messages
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        raise AssertionError(f"no {text!r} from the daemon; got {self.messages}")


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.sock.close()


def write_config(tmp_path: Path, level: str = "debug") -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(CONFIG.format(secret=SECRET, state=tmp_path / "state", level=level))
    return path


def start(config: Path, notify: NotifySocket | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify.path)
    return subprocess.Popen(
        [sys.executable, "-m", "edge_controller", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_watchdog_stopping_and_clean_exit(
    tmp_path: Path, notify: NotifySocket, sig: int
) -> None:
    proc = start(write_config(tmp_path), notify)
    notify.wait_for("READY=1")
    notify.wait_for("WATCHDOG=1")
    code, out, err = finish(proc, sig)
    assert code == 0, err
    notify.wait_for("STOPPING=1")
    names = [e["event"] for e in events(out)]
    assert "started" in names and names[-1] == "stopped"
    assert names.index("started") < names.index("stopping")
    assert all("component" in e for e in events(out))


def test_secrets_are_never_logged(tmp_path: Path, notify: NotifySocket) -> None:
    proc = start(write_config(tmp_path), notify)
    notify.wait_for("READY=1")
    code, out, err = finish(proc)
    assert code == 0
    assert out  # it did log, at debug level
    assert SECRET not in out and SECRET not in err


def test_sighup_applies_live_keys_and_names_the_rest(tmp_path: Path, notify: NotifySocket) -> None:
    config = write_config(tmp_path, level="info")
    proc = start(config, notify)
    notify.wait_for("READY=1")
    text = config.read_text().replace("level: info", "level: debug")
    text = text.replace("grid_limit_a: 32", "grid_limit_a: 40")  # not "32" in the path
    config.write_text(text)
    seen = len(notify.messages)
    proc.send_signal(signal.SIGHUP)
    notify.wait_for("READY=1", after=seen)  # the reload is done
    config.write_text("site: [broken\n")
    seen = len(notify.messages)
    proc.send_signal(signal.SIGHUP)  # a second reload, with a broken file, keeps it running
    notify.wait_for("reload refused", after=seen)
    assert proc.poll() is None
    code, out, _ = finish(proc)
    assert code == 0
    reload = next(e for e in events(out) if e["event"] == "config reloaded")
    assert reload["applied"] == ["logging.level"]
    assert reload["needs_restart"] == ["site.grid_limit_a"]
    refused = [e for e in events(out) if str(e["event"]).startswith("reload refused")]
    assert refused and "YAML syntax" in str(refused[0]["problems"])


def test_bad_config_exits_2_and_names_path_line_reason(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("site:\n  id: x\n  grid_limit_a: lots\n  extra: 1\n")
    proc = start(config)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "site.grid_limit_a (line 3)" in err
    assert "site.extra (line 4): unknown key" in err
    assert "refusing to start" in err


def test_usage_errors_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_controller", "run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--config" in result.stderr
