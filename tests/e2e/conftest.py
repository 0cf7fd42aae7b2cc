"""Fixtures: a whole site (simulator + daemon processes) per test, killed in the finalizer."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.e2e.launch import E2ESite
from tests.e2e.site import profile_for, site_config
from tests.integration.pcsc.pcscd import Pcscd, exclusive_pcscd


class Launch(Protocol):
    async def __call__(
        self, config: dict[str, Any], *, daemon: bool = True, plugged: tuple[str, ...] = ()
    ) -> E2ESite: ...


@pytest.fixture
def pcscd() -> Iterator[Pcscd]:
    """A pcscd with two virtual readers (this test process's own, see pcscd.py), for this test
    only: one per process at a time, so it is held per test."""
    with exclusive_pcscd() as daemon:
        yield daemon


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A short path: the daemon's status socket lives here (Unix socket paths are short)."""
    path = Path(tempfile.mkdtemp(prefix="e2e-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def config(tmp_path: Path, state_dir: Path) -> dict[str, Any]:
    return site_config(tmp_path, state_dir)


@pytest.fixture
async def launch(tmp_path: Path, state_dir: Path) -> AsyncIterator[Launch]:
    """``await launch(config)``: the simulator and the daemon running on ``config``."""
    sites: list[E2ESite] = []

    async def start(
        config: dict[str, Any], *, daemon: bool = True, plugged: tuple[str, ...] = ()
    ) -> E2ESite:
        site = E2ESite(tmp_path, state_dir, config)
        sites.append(site)
        await site.start_sim()
        await site.plug_all(plugged, profile_for)  # already there when the daemon starts
        if daemon:
            await site.start_daemon()
        return site

    yield start
    for site in sites:
        print(await site.explain())  # the state at the end (a failed test's last moment)
        await site.close()
        print(site.logs())  # shown by pytest only when the test failed
