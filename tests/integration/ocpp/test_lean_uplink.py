"""A running 1.6 uplink holds only what it uses: ``cryptography`` (about 12 MB resident) waits
for the first certificate the CSMS installs, asks for or signs, only 1.6 schemas are read, and
the 2.x sessions' code is not imported.
Checked in a fresh process (``lean_child``), as a module once imported stays."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
V201 = "edge_controller.uplink.v201."
# What only a 2.x connection runs: its session, station and their handlers.
TWO_X = ("session", "station", "remote", "smart", "streams", "tariffs", "security",
         "charging_profiles")  # fmt: skip


def test_a_16_connection_loads_no_cryptography_and_no_2x_schema(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.ocpp.lean_child", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout
    held = json.loads(out.strip().splitlines()[-1])
    assert held["schema_versions"] == ["1.6"]
    # The routine CALLs' request and response checks, all built: the connection ran.
    assert held["checks_built"] == 16
    assert "ocpp" in held["packages"]
    assert "cryptography" not in held["packages"]
    # The 2.x sessions' code (about 0.3 MB of objects) is imported when a CSMS chooses 2.x.
    two_x = [m for m in held["modules"] if m.startswith(V201) and m.removeprefix(V201) in TWO_X]
    assert two_x == [], two_x
