"""The unit's sandbox as systemd itself rates it (``systemd-analyze security``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
UNIT = Path(__file__).parents[3] / "systemd" / "edge-controller.service"
EXPOSURE_AT_MOST = 1.5  # 2.2 before ProtectProc, ProcSubset, the syscall deny list, RemoveIPC...


def test_exposure_stays_low() -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze (package systemd) is needed for this check"
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= EXPOSURE_AT_MOST, result.stdout
