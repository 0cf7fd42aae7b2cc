"""The C allocator's settings are applied (on glibc; the machine the tests run on): read back
from malloc itself in a fresh process, since a thread keeps the arena it got at its start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_controller import heap

pytestmark = pytest.mark.skipif(heap.arenas() is None, reason="glibc only")

THREADS = """
import threading
from edge_controller import heap

def allocate() -> None:
    kept = [bytes(2000) for _ in range(2000)]  # above 512 bytes: malloc's, not Python's

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


def test_a_trim_hands_freed_pages_back() -> None:
    code = """
def rss_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")

chunks = [bytes(4000) for _ in range(20_000)]  # 80 MB from malloc's heap
kept = bytes(4000)  # above them: the heap's top cannot shrink past it
del chunks
before = rss_kb()
trimmed = heap.trim()
print(json.dumps([trimmed, before, rss_kb()]))
"""
    trimmed, before_kb, after_kb = json.loads(_run("import json\n" + code))
    assert trimmed is True
    assert before_kb - after_kb > 50_000, (before_kb, after_kb)
