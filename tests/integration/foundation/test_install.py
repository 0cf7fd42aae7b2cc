"""scripts/install.sh lays out /opt, /etc, /var/lib and the unit; tested under a DESTDIR."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]
INSTALL = ROOT / "scripts" / "install.sh"
# The installed package gets its dependencies from the development environment here: the tests
# install with --no-deps to stay offline and fast.
DEPS = sysconfig.get_paths()["purelib"]


def _install(**env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHON=sys.executable, PIP_ARGS="--no-deps", **env)
    result = subprocess.run(
        ["bash", str(INSTALL)], env=full, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def _unit(root: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (root / "etc/systemd/system/edge-controller.service").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values.setdefault(key, []).append(value)
    return values


def test_install_under_destdir(tmp_path: Path) -> None:
    dest = tmp_path / "root"
    _install(DESTDIR=str(dest))
    prefix, conf = dest / "opt/edge-controller", dest / "etc/edge-controller"
    assert (prefix / "venv/bin/edge-controller").exists()
    assert (conf / "config.yaml").read_text() == (ROOT / "config/example.yaml").read_text()
    assert (dest / "var/lib/edge-controller").is_dir()
    unit = (dest / "etc/systemd/system/edge-controller.service").read_text()
    assert "ExecStart=/opt/edge-controller/venv/bin/edge-controller run" in unit
    for key in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=edge-controller",
        "ConfigurationDirectory=edge-controller",
        "SupplementaryGroups=dialout",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
    ):
        assert key in unit, key
    # Every script starts the final /opt interpreter, not the staging copy.
    assert (
        (prefix / "venv/bin/edge-controller")
        .read_text()
        .startswith("#!/opt/edge-controller/venv/bin/python")
    )

    # An installer's edited config survives a re-install.
    (conf / "config.yaml").write_text("# edited\n")
    _install(DESTDIR=str(dest))
    assert (conf / "config.yaml").read_text() == "# edited\n"


def test_a_staged_package_runs_once_copied_to_its_place(tmp_path: Path) -> None:
    stage, final = tmp_path / "stage", tmp_path / "opt" / "ec"
    _install(DESTDIR=str(stage), PREFIX=str(final))
    staged = stage / final.relative_to("/")
    leaks = subprocess.run(
        ["grep", "-rl", "--fixed-strings", str(stage), str(staged)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert leaks == [], f"files still naming the staging directory: {leaks[:5]}"
    shutil.move(staged, final)  # what a package manager does with the staged tree
    shutil.rmtree(stage)

    env = dict(os.environ, PYTHONPATH=DEPS)
    version = subprocess.run(
        [str(final / "venv/bin/edge-controller"), "--version"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("edge-controller ")
    where = subprocess.run(
        [
            str(final / "venv/bin/python"),
            "-c",
            "import edge_controller; print(edge_controller.__file__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(str(final))


def test_the_unit_follows_custom_state_and_config_directories(tmp_path: Path) -> None:
    dest = tmp_path / "root"
    _install(DESTDIR=str(dest), STATEDIR="/var/lib/ev/site1", CONFDIR="/etc/ev/site1")
    unit = _unit(dest)
    assert unit["StateDirectory"] == ["ev/site1"]
    assert unit["ConfigurationDirectory"] == ["ev/site1"]
    assert unit["Environment"].count("EDGE_CONTROLLER__STORAGE__STATE_DIR=/var/lib/ev/site1") == 1
    assert "/etc/ev/site1/config.yaml" in unit["ExecStart"][0]

    # Outside /var/lib and /etc systemd cannot manage them: the state is made writable instead.
    _install(DESTDIR=str(dest), STATEDIR="/srv/edge/state", CONFDIR="/srv/edge/conf")
    unit = _unit(dest)
    assert "StateDirectory" not in unit and "ConfigurationDirectory" not in unit
    assert "StateDirectoryMode" not in unit and "ConfigurationDirectoryMode" not in unit
    assert unit["ReadWritePaths"] == ["/srv/edge/state"]
    assert "EDGE_CONTROLLER__STORAGE__STATE_DIR=/srv/edge/state" in unit["Environment"]
    assert (dest / "srv/edge/state").is_dir() and (dest / "srv/edge/conf/config.yaml").exists()


def _shims(bin_dir: Path, log: Path, user_exists: bool) -> None:
    """User management replaced by commands that record their arguments: a test must not add
    system users or change owners on this shared machine. Everything else runs for real."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, status in (("id", 0 if user_exists else 1), ("useradd", 0), ("usermod", 0)):
        _shim(bin_dir / name, log, status)
    _shim(bin_dir / "chown", log, 0)


def _shim(path: Path, log: Path, status: int) -> None:
    path.write_text(f'#!/bin/sh\necho "{path.name} $*" >> "{log}"\nexit {status}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("user_exists", [True, False])
def test_the_service_user_is_in_dialout_new_or_existing(tmp_path: Path, user_exists: bool) -> None:
    log, bin_dir = tmp_path / "calls.log", tmp_path / "bin"
    _shims(bin_dir, log, user_exists)
    _install(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        PREFIX=str(tmp_path / "opt"),
        CONFDIR=str(tmp_path / "etc"),
        STATEDIR=str(tmp_path / "state"),
        UNITDIR=str(tmp_path / "units"),
    )
    calls = log.read_text().splitlines()
    if user_exists:
        assert "usermod --append --groups dialout edge-controller" in calls
        assert not [c for c in calls if c.startswith("useradd")]
    else:
        [useradd] = [c for c in calls if c.startswith("useradd")]
        assert "--groups dialout" in useradd and useradd.endswith(" edge-controller")
    assert f"chown -R edge-controller:edge-controller {tmp_path / 'state'}" in calls
