"""The daemon process when its database cannot be used at start: the real cause in one line,
no traceback, and an exit code that tells systemd whether starting again can help (1: maybe;
3: fix the installation; 4: the data needs an operator). Only genuine damage keeps a copy of
the files, and only one.

The read-only and full file systems are real mounts made by the test (it runs as root here); a
machine where the test may not mount falls back to what an unprivileged user can do (a
directory without write permission, a file-size limit on the daemon process).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_controller.storage.errors import marker_path

pytestmark = pytest.mark.integration

CONFIG = """\
site:
  id: storage-test
  grid_limit_a: 32
  tick_s: 0.1
  shutdown_grace_s: 5
storage:
  state_dir: {state}
"""
EXIT_RETRY, EXIT_INSTALL, EXIT_DATA = 1, 3, 4


def run_daemon(
    tmp_path: Path, state: Path, limit: Callable[[], None] | None = None
) -> tuple[int, str, str]:
    """Start `edge-controller run`; returns its exit code, stdout and stderr (it must exit)."""
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG.format(state=state))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_controller", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=limit,  # noqa: PLW1509 (only a signal and a limit, no locks taken)
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"the daemon started although it should not\n{out}\n{err}") from None
    return proc.returncode, out, err


def assert_one_line(err: str, *texts: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-controller: "), err
    assert "Traceback" not in err and "integrity" not in err
    for text in texts:
        assert text in lines[0], (text, lines[0])


def make_database(state: Path) -> None:
    """A database as a previous run leaves it (its marker included)."""
    import asyncio

    from edge_controller.storage.database import Database

    async def create() -> None:
        db = await Database.open(state / "edge.db")
        await db.close()

    asyncio.run(create())


def _mount(*args: str) -> bool:
    done = subprocess.run(["mount", *args], capture_output=True, check=False)
    return done.returncode == 0


@contextlib.contextmanager
def mounted(target: Path, *args: str) -> Iterator[bool]:
    """Mount over ``target`` if this machine lets the test; yields whether it did."""
    ok = os.geteuid() == 0 and _mount(*args, str(target))
    try:
        yield ok
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(target)], check=False)


def test_read_only_state_directory_exits_3_without_calling_it_corrupt(tmp_path: Path) -> None:
    state = tmp_path / "state"
    make_database(state)
    with mounted(state, "--bind", str(state)) as bound:
        if bound:
            assert _mount("-o", "remount,bind,ro", str(state))
            expected = "read-only file system"
        else:
            state.chmod(0o555)  # unprivileged: a directory the daemon may not write
            expected = "is not writable"
        try:
            code, _, err = run_daemon(tmp_path, state)
        finally:
            if not bound:
                state.chmod(0o755)
    assert code == EXIT_INSTALL, err
    assert_one_line(err, str(state / "edge.db"), expected)
    assert not list(state.glob("*.corrupt-*"))


def _file_size_limit() -> None:
    """In the daemon's process: no file may grow (a full disk where no mount is possible)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_full_disk_exits_1_and_leaves_no_copy(tmp_path: Path, existing: bool) -> None:
    disk = Path(tempfile.mkdtemp(prefix="full-", dir=tmp_path))
    state = disk / "state"
    # Room for a new database with its write-ahead log (the schema alone is ~170 kB), then filled.
    with mounted(disk, "-t", "tmpfs", "-o", "size=4m", "tmpfs") as small:
        if existing:
            make_database(state)
        limit = None
        if small:
            fs = os.statvfs(disk)
            assert fs.f_blocks * fs.f_frsize <= 4 << 20, "not the small file system: not filling"
            filler = disk / "filler"
            with contextlib.suppress(OSError), filler.open("wb", buffering=0) as out:
                while True:
                    out.write(b"\0" * 4096)
        else:
            limit = _file_size_limit
        code, _, err = run_daemon(tmp_path, state, limit)
        copies = list(state.glob("*.corrupt-*")) + list(state.glob(".*.partial"))
    assert code == EXIT_RETRY, err
    if small:
        assert_one_line(err, "no space left for the database", str(state / "edge.db"))
    else:
        assert "Traceback" not in err and "integrity" not in err
    assert copies == []


def test_genuine_corruption_exits_4_and_keeps_one_copy(tmp_path: Path) -> None:
    state = tmp_path / "state"
    make_database(state)
    (state / "edge.db").write_bytes(b"not a database at all" * 500)
    for _ in range(2):  # as systemd would start it again if it restarted on this code
        code, _, err = run_daemon(tmp_path, state)
        assert code == EXIT_DATA, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "failed its integrity check" in lines[0] and "Traceback" not in err
    (copy,) = state.glob("edge.db.corrupt-*")
    assert copy.read_bytes() == (state / "edge.db").read_bytes()
    assert str(copy) in lines[0]


def test_missing_database_that_existed_exits_4_and_says_how_to_go_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    make_database(state)
    for path in state.glob("edge.db*"):
        path.unlink()
    code, _, err = run_daemon(tmp_path, state)
    assert code == EXIT_DATA, err
    assert_one_line(err, "is missing", str(marker_path(state / "edge.db")))
    assert not (state / "edge.db").exists()  # nothing was created in its place
