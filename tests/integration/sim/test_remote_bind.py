"""The simulator's control interface and the bench CSMS have no authentication: they refuse a
non-loopback address (exit 2, a clear message, nothing started) unless ``--allow-remote``."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edge_controller.config.settings import Settings
from edge_controller.sim.binding import RemoteBindRefused
from edge_controller.sim.site import running_site
from tests.integration.sim.conftest import site_config
from tests.ports import free_port

pytestmark = pytest.mark.integration
REFUSE_WITHIN_S = 60.0  # a refusal returns at once; before the check these commands ran forever


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_controller", *args]


def _refused(*args: str) -> str:
    try:
        result = subprocess.run(
            _command(*args), capture_output=True, text=True, timeout=REFUSE_WITHIN_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{args[0]} started instead of refusing")
    assert result.returncode == 2, result.stderr
    assert "--allow-remote" in result.stderr and "no authentication" in result.stderr
    return result.stderr


def _listening(port: int, within_s: float = 30.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "gateway.example"])
def test_bench_csms_refuses_a_non_loopback_address(host: str) -> None:
    err = _refused("csms", "--host", host, "--port", str(free_port()))
    assert host in err and "bench CSMS" in err


def test_bench_csms_listens_everywhere_when_asked_on_purpose() -> None:
    port = free_port()
    args = ("csms", "--host", "0.0.0.0", "--port", str(port), "--allow-remote")
    process = subprocess.Popen(
        _command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert _listening(port), "the bench CSMS did not start with --allow-remote"
    finally:
        _stop(process)


def _site_file(tmp_path: Path, control_host: str, control_port: int) -> Path:
    config = site_config(tmp_path, control_host=control_host, control_port=control_port)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_simulator_refuses_a_non_loopback_control_address(tmp_path: Path) -> None:
    path = _site_file(tmp_path, "0.0.0.0", free_port())
    err = _refused("simulate", "--config", str(path))
    assert "simulation.control_host" in err
    assert not (tmp_path / "ttyEV").exists()  # nothing was started (no pty pair)


def test_simulator_control_listens_everywhere_when_asked_on_purpose(tmp_path: Path) -> None:
    port = free_port()
    path = _site_file(tmp_path, "0.0.0.0", port)
    process = subprocess.Popen(
        _command("simulate", "--config", str(path), "--allow-remote"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _listening(port), "the simulator did not start with --allow-remote"
    finally:
        _stop(process)


async def test_running_site_refuses_too(tmp_path: Path) -> None:
    settings = Settings.model_validate(site_config(tmp_path, control_host="0.0.0.0"))
    with pytest.raises(RemoteBindRefused, match="control interface"):
        async with running_site(settings):
            pass
