"""A real Mosquitto broker for tests: free loopback port, password file, ACL, no persistence
unless asked for (then written to disk only when told, or on a clean stop)."""

from __future__ import annotations

import getpass
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.ports import free_port

PREFIX = "edge/site1"
USERS = {"edge": "edge-secret", "app": "app-secret", "ha": "ha-secret"}
ACL = f"""\
user edge
topic write {PREFIX}/#
topic read {PREFIX}/cmd/+
topic read {PREFIX}/children/+/state
topic write homeassistant/sensor/#
topic read homeassistant/status

user app
topic read {PREFIX}/#
topic write {PREFIX}/cmd/+
topic read homeassistant/#

user ha
topic read {PREFIX}/#
topic readwrite homeassistant/#
"""


_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
_CERT_COMMANDS = (
    f"openssl req -x509 {_KEY} -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca",
    f"openssl req {_KEY} -keyout server.key -out server.csr -subj /CN=127.0.0.1",
    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
    " -out server.crt -days 2 -extfile san.ext",
)


def make_certificates(workdir: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl command line)."""
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for command in _CERT_COMMANDS:
        subprocess.run(command.split(), cwd=workdir, check=True, capture_output=True, timeout=30)


class Mosquitto:
    """Start/stop/restart one broker on one port (the port survives a restart)."""

    def __init__(self, workdir: Path, *, tls: bool = False, persistent: bool = False) -> None:
        self.workdir = workdir
        self.tls = tls
        self.persistent = persistent
        if tls:
            make_certificates(workdir)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"
        passwd = workdir / "passwd"
        for i, (user, password) in enumerate(USERS.items()):
            flags = ["-c"] if i == 0 else []
            subprocess.run(
                ["mosquitto_passwd", *flags, "-b", str(passwd), user, password],
                check=True,
                capture_output=True,
                timeout=10,
            )
        (workdir / "acl").write_text(ACL)
        (workdir / "edge.password").write_text(USERS["edge"] + "\n")

    @property
    def edge_password_file(self) -> Path:
        return self.workdir / "edge.password"

    def _write_config(self) -> Path:
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + "allow_anonymous false\n"
            + f"password_file {self.workdir / 'passwd'}\n"
            + f"acl_file {self.workdir / 'acl'}\n"
            + (self._tls_lines() if self.tls else "")
            + self._persistence_lines()
            + "log_dest stdout\n"
            + f"user {getpass.getuser()}\n"
        )
        return config

    def _persistence_lines(self) -> str:
        if not self.persistent:
            return "persistence false\n"
        # No autosave: the database on disk is the one ``save()`` (or a clean stop) wrote.
        location = f"{self.workdir}/"
        return f"persistence true\npersistence_location {location}\nautosave_interval 0\n"

    @property
    def database(self) -> Path:
        return self.workdir / "mosquitto.db"

    def save(self) -> None:
        """Write the persistence database now (what a restart after a crash replays)."""
        assert self.persistent and self.proc is not None
        before = self.database.stat().st_mtime_ns if self.database.exists() else None
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self.database.exists() and self.database.stat().st_mtime_ns != before:
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not write its persistence database")

    def kill(self) -> None:
        """SIGKILL: gone without writing anything (a crash, a power cut)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None

    def _tls_lines(self) -> str:
        d = self.workdir
        return f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ca.crt"

    def start(self) -> None:
        for _ in range(5):
            config = self._write_config()
            log = self.log_path.open("ab")
            self.proc = subprocess.Popen(
                ["mosquitto", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
            log.close()
            if self._wait_ready(5.0):
                return
            self.stop()
            self.port = free_port()  # the port was taken meanwhile: try another
        raise RuntimeError(f"mosquitto did not start: {self.log_path.read_text()[-2000:]}")

    def _wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
