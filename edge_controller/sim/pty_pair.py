"""A virtual RS-485 line: a ``socat`` pty pair, PATH for the controller, PATH+suffix for us."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from edge_controller.log import get_logger
from edge_controller.sim.sim_site import SimStartError

_log = get_logger("sim.pty")
READY_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 3.0
PR_SET_PDEATHSIG = 1


class PtyError(SimStartError):
    """The pty pair could not be created or died."""


def _remove_stale_link(path: Path) -> None:
    # Only a symlink left by a killed run is removed; a real file or device is never touched.
    # The caller holds the line's lock, so no live simulator owns such a link.
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        raise PtyError(f"{path} already exists; is another simulator or a real port using it?")


@contextlib.contextmanager
def _line_lock(device: Path) -> Iterator[None]:
    """One simulator per line: a lock held for the pair's lifetime tells a live owner from
    links a killed run left behind."""
    with open(f"{device}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PtyError(f"{device} is served by another running simulator") from None
        yield


def _die_with_parent() -> None:
    # socat must not outlive a simulator killed with SIGKILL (it would hold the line).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.asynccontextmanager
async def pty_pair(
    device: str, suffix: str = ".sim", socat: str = "socat"
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """Run socat linking ``device`` and ``device + suffix``; yield the simulator's side."""
    controller_side, sim_side = Path(device), Path(device + suffix)
    controller_side.parent.mkdir(parents=True, exist_ok=True)
    with _line_lock(controller_side):
        for path in (controller_side, sim_side):
            _remove_stale_link(path)
        async with _socat(socat, controller_side, sim_side) as process:
            yield str(sim_side), process


@contextlib.asynccontextmanager
async def _socat(
    socat: str, controller_side: Path, sim_side: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    try:
        process = await asyncio.create_subprocess_exec(
            socat,
            f"pty,raw,echo=0,link={controller_side}",
            f"pty,raw,echo=0,link={sim_side}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        raise PtyError(f"cannot start {socat}: {exc.strerror}") from exc
    try:
        await _wait_ready(process, controller_side, sim_side)
        _log.info("pty_pair_ready", device=str(controller_side), sim_side=str(sim_side))
        yield process
    finally:
        await _stop(process)


async def _wait_ready(process: asyncio.subprocess.Process, *paths: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    while not all(os.path.lexists(p) for p in paths):  # noqa: ASYNC240 (a stat is instant)
        if process.returncode is not None:
            stderr = await process.stderr.read() if process.stderr else b""
            raise PtyError(f"socat exited: {stderr.decode(errors='replace').strip()}")
        if loop.time() > deadline:
            raise PtyError(f"socat did not create {', '.join(map(str, paths))} in time")
        await asyncio.sleep(0.02)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
