"""scripts/setup.sh installs every outside command the README tells the user to run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]
# Commands of other packages the README has the user type (the rest come from .venv).
README_TOOLS = ("mosquitto_sub",)


def _setup_packages() -> set[str]:
    text = (ROOT / "scripts/setup.sh").read_text()
    match = re.search(r"^APT_PACKAGES=\(([^)]*)\)", text, re.MULTILINE)
    assert match is not None
    return set(match.group(1).split())


@pytest.mark.parametrize("tool", README_TOOLS)
def test_a_command_the_readme_uses_is_installed_by_setup(tool: str) -> None:
    assert f"`{tool} " in (ROOT / "README.md").read_text()
    path = shutil.which(tool)
    assert path is not None, f"{tool} is not installed (scripts/setup.sh installs it)"
    owner = subprocess.run(
        ["dpkg", "-S", str(Path(path).resolve())], capture_output=True, text=True, check=True
    ).stdout.split(":")[0]
    assert owner in _setup_packages(), f"{tool} comes from {owner}, which setup.sh does not install"
