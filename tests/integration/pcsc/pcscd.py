"""A real pcscd with the vpcd virtual reader driver, for tests (fixtures in conftest.py).

pcscd's socket and pid file sit at fixed paths (/run/pcscd), so only one pcscd can run on the
machine: the fixture holds an exclusive lock on LOCK_PATH for its lifetime and stops a pcscd
left behind by an earlier run (recognised by MARKER in its command line). The vpcd ports are
picked free per run by writing our own reader.conf.d (``pcscd -c DIR``).

Readers: "Virtual PCD 00 00" / "Virtual PCD 00 01" on ``port`` / ``port + 1``. The vpcd driver
keeps its two slots in process-wide state, so one pcscd serves one vpcd device only; a reader
is "unplugged" by restarting pcscd without the vpcd configuration (``start(readers=False)``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from smartcard import scard

LOCK_PATH = Path("/tmp/edge-controller-pcscd.lock")
RUN_DIR = Path("/run/pcscd")
MARKER = "edge-controller-pcscd"
_HELD_HERE: list[bool] = []  # non-empty while this process holds LOCK_PATH
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
START_TIMEOUT_S = 15.0


def _port_pair_free(port: int) -> bool:
    for candidate in (port, port + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", candidate))
            except OSError:
                return False
    return True


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < 65535 and _port_pair_free(port):
            return port
    raise RuntimeError("no two consecutive free TCP ports")


def _reader_conf(name: str, port: int) -> str:
    return (
        f'FRIENDLYNAME "{name}"\nDEVICENAME /dev/null:{port}\n'
        f"LIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n"
    )


def list_readers() -> list[str] | None:
    """The reader names pcscd reports now, or None when it does not answer."""
    code, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if code != scard.SCARD_S_SUCCESS:
        return None
    try:
        code, names = scard.SCardListReaders(context, [])
        return list(names) if code == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


def cards_present() -> bool:
    """Whether pcscd still sees a card on any reader (it polls vpcd every 400 ms)."""
    code, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if code != scard.SCARD_S_SUCCESS:
        return False
    try:
        code, names = scard.SCardListReaders(context, [])
        if code != scard.SCARD_S_SUCCESS:
            return False
        request = [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        code, states = scard.SCardGetStatusChange(context, 0, request)
        return code == scard.SCARD_S_SUCCESS and any(
            event & scard.SCARD_STATE_PRESENT for _, event, _ in states
        )
    finally:
        scard.SCardReleaseContext(context)


class Pcscd:
    def __init__(self, work_dir: Path) -> None:
        self.conf_dir = work_dir / "reader.conf.d"
        self.conf_dir.mkdir()
        self.log_path = work_dir / "pcscd.log"
        self.port = _free_port_pair()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def slot_ports(self) -> tuple[int, int]:
        return self.port, self.port + 1

    def start(self, *, readers: bool = True) -> None:
        for path in self.conf_dir.iterdir():
            path.unlink()
        if readers:
            (self.conf_dir / "vpcd").write_text(_reader_conf("Virtual PCD", self.port))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["pcscd", "--foreground", "--debug", "--config", str(self.conf_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        expected = 2 if readers else 0
        deadline = time.monotonic() + START_TIMEOUT_S
        while (found := list_readers()) is None or len(found) < expected:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pcscd did not start; see {self.log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self, *, readers: bool = True) -> None:
        self.stop()
        self.start(readers=readers)


def _stop_stray_pcscd() -> None:
    """Stop a pcscd an earlier run left behind; refuse to touch anybody else's."""
    pid_file = RUN_DIR / "pcscd.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "pcscd" in cmdline:
            if MARKER not in cmdline:
                raise RuntimeError(f"a pcscd not started by these tests runs: {cmdline}")
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
    for leftover in ("pcscd.comm", "pcscd.pid"):
        with contextlib.suppress(FileNotFoundError):
            (RUN_DIR / leftover).unlink()


@contextlib.contextmanager
def exclusive_pcscd() -> Iterator[Pcscd]:
    """A running pcscd with the two virtual readers, for as long as the block lasts.

    Waits for any other test run that holds the machine's pcscd; stops it afterwards.
    """
    if _HELD_HERE:
        # flock on a second descriptor of the same process would wait forever.
        raise RuntimeError("this test process already runs pcscd: narrow the fixture's scope")
    with LOCK_PATH.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _HELD_HERE.append(True)
        try:
            _stop_stray_pcscd()
            with tempfile.TemporaryDirectory(prefix=f"{MARKER}-") as work_dir:
                daemon = Pcscd(Path(work_dir))
                daemon.start()
                try:
                    yield daemon
                finally:
                    daemon.stop()
        finally:
            _HELD_HERE.clear()


def wait_cards_lifted(timeout_s: float = START_TIMEOUT_S) -> None:
    """Until pcscd has noticed that every virtual card was lifted."""
    deadline = time.monotonic() + timeout_s
    while cards_present():
        if time.monotonic() > deadline:
            raise RuntimeError("a card stays on a virtual reader")
        time.sleep(0.05)
