"""The C allocator's settings are applied (on glibc; the machine the tests run on): read back
from malloc itself in a fresh process, since a thread keeps the arena it got at its start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_controller import heap

pytestmark = pytest.mark.skipif(heap.arenas() is None, reason="glibc only")

THREADS = """
import threading
from edge_controller import heap

# Every thread allocates, then waits for the others before it frees: threads that ran one
# after another could reuse a finished thread's arena and hide the default.
started = threading.Barrier(4)
allocated = threading.Barrier(4)

def allocate() -> None:
    started.wait()
    kept = [bytes(2000) for _ in range(2000)]  # above 512 bytes: malloc's, not Python's
    allocated.wait()
    del kept

def arenas_after_threads() -> int:
    threads = [threading.Thread(target=allocate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return heap.arenas()
"""


def _run(code: str) -> str:
    command = [sys.executable, "-c", THREADS + code]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_threads_share_the_arenas_the_limit_allows() -> None:
    assert int(_run("print(arenas_after_threads())")) > 2  # the default: one per thread
    assert _run("print(heap.limit_arenas(1), arenas_after_threads())") == "True 1"


def test_the_daemon_limits_its_arenas_before_its_threads_start(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(f"site: {{id: s1, grid_limit_a: 32}}\nstorage: {{state_dir: {tmp_path}}}\n")
    code = f"""
import edge_controller.app.daemon as daemon
from edge_controller import cli

async def threads_instead(*args, **kwargs):
    print(arenas_after_threads())

daemon.run_daemon = threads_instead
cli.main(["run", "--config", {str(config)!r}])
"""
    assert int(_run(code)) == heap.DAEMON_ARENAS


def test_an_operators_arena_setting_is_left_alone() -> None:
    code = THREADS + "print(heap.limit_arenas(1), arenas_after_threads())"
    command = [sys.executable, "-c", code]
    env = {**os.environ, "MALLOC_ARENA_MAX": "3"}
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "3"]


def test_trim_hands_freed_memory_back() -> None:
    """What the daemon does once after its start-up (``cli.START_UP_TRIM_S``)."""
    code = """
kept = [bytes(2000) for _ in range(20000)]  # 40 MB from malloc's heap, not mmap'd blocks
del kept
print(heap.trim())
"""
    assert _run(code) == "True"


def test_the_daemon_trims_its_heap_once_after_its_start_up(tmp_path: Path) -> None:
    """With a shortened start-up: the trim comes once, while the daemon runs."""
    config = tmp_path / "site.yaml"
    config.write_text(f"site: {{id: s1, grid_limit_a: 32}}\nstorage: {{state_dir: {tmp_path}}}\n")
    code = f"""
import asyncio
import edge_controller.app.daemon as daemon
from edge_controller import cli

trims = []
cli.START_UP_TRIM_S = 0.05
heap.trim = lambda: trims.append("trim") or True

async def runs_a_while(*args, **kwargs):
    await asyncio.sleep(0.5)
    print("running", len(trims))

daemon.run_daemon = runs_a_while
cli.main(["run", "--config", {str(config)!r}])
print("ended", len(trims))
"""
    assert _run(code).split() == ["running", "1", "ended", "1"]
