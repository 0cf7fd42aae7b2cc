"""scripts/install.sh lays out /opt, /etc, /var/lib and the unit; tested under a DESTDIR."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]


def test_install_under_destdir(tmp_path: Path) -> None:
    dest = tmp_path / "root"
    env = dict(os.environ, DESTDIR=str(dest), PYTHON=sys.executable, PIP_ARGS="--no-deps")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
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
        "StateDirectory=",
        "ConfigurationDirectory=",
        "SupplementaryGroups=dialout",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
    ):
        assert key in unit, key

    # An installer's edited config survives a re-install.
    (conf / "config.yaml").write_text("# edited\n")
    subprocess.run(
        ["bash", str(ROOT / "scripts/install.sh")], env=env, check=True, capture_output=True
    )
    assert (conf / "config.yaml").read_text() == "# edited\n"

    # The installed package runs (its dependencies come from the development environment here,
    # since the test installs with --no-deps to stay offline and fast).
    deps = sysconfig.get_paths()["purelib"]
    check = subprocess.run(
        [
            str(prefix / "venv/bin/python"),
            "-c",
            "import edge_controller, sys; print(edge_controller.__file__)",
        ],
        env=dict(os.environ, PYTHONPATH=deps),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert str(prefix) in check.stdout
