"""The AuthorizationKey a CSMS sets for security profiles 1 and 2 (OCPP 1.6 security
whitepaper: sent hex-encoded, 16 to 20 bytes, write-only; OCPP 2.x: the SecurityCtrlr
BasicAuthPassword variable, 16 to 40 characters).

It is kept in a file of its own (mode 0600, replaced atomically), never in the configuration
file, never logged, never answered to GetConfiguration, and used from the next connection on
in place of the configured password. Until a CSMS sets one, the configured password is used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from edge_controller.log import get_logger
from edge_controller.textpath import TextPath

log = get_logger("uplink.auth_key")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){16,20}")
MAX_KEY_BYTES = 40  # 2.x BasicAuthPassword: up to 40 characters (1.6 keys: 20 bytes)


def parse_key(value: str) -> bytes | None:
    """The key a ChangeConfiguration value stands for, or None when it is not 16-20 bytes of
    hexadecimal."""
    text = value.strip()
    return bytes.fromhex(text) if _HEX.fullmatch(text) else None


class KeyFile:
    path = TextPath()  # kept as text

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> bytes | None:
        """The key a CSMS set, or None (none set, or the file is unusable: then the configured
        password applies, and the CSMS learns it from a refused connection)."""
        try:
            key = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("authorization key unreadable", path=str(self.path), error=str(exc))
            return None
        if not 16 <= len(key) <= MAX_KEY_BYTES:
            log.error("authorization key file has a wrong length", path=str(self.path))
            return None
        return key

    def save(self, key: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(self.path)
