"""A real pcscd with the vpcd virtual reader driver, for tests (fixtures in conftest.py).

pcscd's socket and pid file sit at fixed paths (/run/pcscd). Where this process may make a mount
namespace (root, as in `make test`), each test process runs a pcscd of its own: started in a
namespace where a directory of its own is mounted over /run/pcscd, reached through
PCSCLITE_CSOCK_NAME (read by libpcsclite in this process and in the daemons it starts). The two
test processes of `make test` then never wait for each other. Elsewhere only one pcscd can run
on the machine: the fixture holds an exclusive lock on LOCK_PATH for its lifetime and stops a
pcscd left behind by an earlier run (recognised by MARKER in its command line). The vpcd ports
are picked free per run by writing our own reader.conf.d (``pcscd -c DIR``).

Readers: "Virtual PCD 00 00" / "Virtual PCD 00 01" on ``port`` / ``port + 1``. The vpcd driver
keeps its two slots in process-wide state, so one pcscd serves one vpcd device only; a reader
is "unplugged" by restarting pcscd without the vpcd configuration (``start(readers=False)``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from smartcard import scard

from tests.ports import free_ports

LOCK_PATH = Path("/tmp/edge-controller-pcscd.lock")
RUN_DIR = Path("/run/pcscd")
MARKER = "edge-controller-pcscd"
_HELD_HERE: list[bool] = []  # non-empty while this process runs its pcscd
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
START_TIMEOUT_S = 15.0
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
# This process's pcscd socket and pid file, when it runs a pcscd of its own.
OWN_RUN_DIR = Path(tempfile.gettempdir()) / f"{MARKER}-run-{os.getpid()}"
# Work directories (on pcscd's command line) name the test process that started the pcscd.
_OWNER = re.compile(rf"{MARKER}-(\d+)-")


def _own_namespace_possible() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


PRIVATE = _own_namespace_possible()
if PRIVATE:
    # Set before this process's first PC/SC call: libpcsclite reads it once per process.
    os.environ[SOCKET_ENV] = str(OWN_RUN_DIR / "pcscd.comm")


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
        self.port = free_ports(2, host="0.0.0.0")  # vpcd listens on every address
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def slot_ports(self) -> tuple[int, int]:
        return self.port, self.port + 1

    def start(self, *, readers: bool = True) -> None:
        for path in self.conf_dir.iterdir():
            path.unlink()
        if readers:
            (self.conf_dir / "vpcd").write_text(_reader_conf("Virtual PCD", self.port))
        command = ["pcscd", "--foreground", "--debug", "--config", str(self.conf_dir)]
        if PRIVATE:
            shutil.rmtree(OWN_RUN_DIR, ignore_errors=True)  # files of a pcscd stopped before
            OWN_RUN_DIR.mkdir()
            mount = 'mkdir -p /run/pcscd && mount --bind "$0" /run/pcscd && exec "$@"'
            command = ["unshare", "--mount", "sh", "-c", mount, str(OWN_RUN_DIR), *command]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
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
        if PRIVATE:
            shutil.rmtree(OWN_RUN_DIR, ignore_errors=True)

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


def _stop_orphans() -> None:
    """Stop the pcscds of test processes that ended without stopping them (killed runs)."""
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            args = (proc / "cmdline").read_bytes().decode().split("\0")
            owner = _OWNER.search(" ".join(args))
            if Path(args[0]).name == "pcscd" and owner and not _alive(int(owner.group(1))):
                os.kill(int(proc.name), signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def exclusive_pcscd() -> Iterator[Pcscd]:
    """A running pcscd with the two virtual readers, for as long as the block lasts: this
    process's own, or else the machine's one (then waits for any other test run that holds
    it). Stops it afterwards."""
    if _HELD_HERE:
        # One socket per process (see SOCKET_ENV); and without namespaces, flock on a second
        # descriptor of the same process would wait forever.
        raise RuntimeError("this test process already runs pcscd: narrow the fixture's scope")
    with contextlib.ExitStack() as stack:
        if PRIVATE:
            _stop_orphans()
        else:
            lock = stack.enter_context(LOCK_PATH.open("a"))
            fcntl.flock(lock, fcntl.LOCK_EX)
            _stop_stray_pcscd()
        _HELD_HERE.append(True)
        stack.callback(_HELD_HERE.clear)
        prefix = f"{MARKER}-{os.getpid()}-"
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        daemon = Pcscd(work_dir)
        stack.callback(daemon.stop)
        daemon.start()
        yield daemon


def wait_cards_lifted(timeout_s: float = START_TIMEOUT_S) -> None:
    """Until pcscd has noticed that every virtual card was lifted."""
    deadline = time.monotonic() + timeout_s
    while cards_present():
        if time.monotonic() > deadline:
            raise RuntimeError("a card stays on a virtual reader")
        time.sleep(0.05)
